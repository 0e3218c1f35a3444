import Testing
@testable import StorageCore

@Suite("Engine configuration")
struct ConfigurationTests {
    @Test("every key sets its setting from text")
    func keys() throws {
        var c = EngineConfiguration()
        for (key, value) in [("backend", "file"), ("filesystem", "xfs"), ("default_size", "2GiB"), ("wait_timeout", "500ms"),
                             ("file.pool_size", "8GiB"), ("dm_thin.pool_name", "p"), ("dm_thin.existing", "true"),
                             ("dm_thin.data_device", "/dev/sdb"), ("dm_thin.metadata_device", "/dev/sdc"), ("dm_thin.data_size", "1GiB"),
                             ("dm_thin.block_size", "128KiB"), ("dm_thin.min_free", "5%")] {
            try c.set(key, to: value)
        }
        #expect(c.backend == "file" && c.filesystem == .xfs && c.defaultDeviceSize == 2 << 30 && c.waitLimit == .milliseconds(500))
        #expect(c.file.poolSize == 8 << 30)
        #expect(c.thin.poolName == "p" && c.thin.existing && c.thin.dataDevice == "/dev/sdb" && c.thin.metadataDevice == "/dev/sdc")
        #expect(c.thin.dataSize == 1 << 30 && c.thin.blockSize == 128 << 10 && c.thin.minFree == 0.05)
        try c.validate()
        #expect(Set(EngineConfiguration.keys.map(\.name)).count == EngineConfiguration.keys.count, "no key twice")
    }

    @Test("defaults live in one place and are valid")
    func defaults() throws {
        let c = EngineConfiguration()
        try c.validate()
        #expect(c.backend == EngineConfiguration.automaticBackend)
        #expect(c.defaultDeviceSize == 10 << 30 && c.file.poolSize == 64 << 30 && c.thin.minFree == 0.1)
        for key in EngineConfiguration.keys where !key.defaultValue.isEmpty {
            var fromDefault = EngineConfiguration()
            try fromDefault.set(key.name, to: key.defaultValue)
            #expect(fromDefault == c, "the documented default of \(key.name) is the default")
        }
    }

    @Test("unknown keys and bad values are refused, naming them", arguments: [
        ("bogus_key", "1"), ("defualt_size", "1GiB"), ("filesystem", "btrfs"), ("default_size", "big"), ("dm_thin.existing", "maybe"),
        ("dm_thin.min_free", "150%"), ("wait_timeout", "soon"), ("file.pool_size", "-3"),
    ])
    func refused(_ key: String, _ value: String) {
        var c = EngineConfiguration()
        let error = #expect(throws: StorageError.self) { try c.set(key, to: value) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains(key.hasPrefix("bogus") || key.hasPrefix("defualt") ? key : value) == true, "\(String(describing: error))")
    }

    @Test("settings that do not fit together are refused")
    func validation() throws {
        var small = EngineConfiguration()
        small.defaultDeviceSize = 1 << 20
        #expect(throws: StorageError.self) { try small.validate() }
        var pool = EngineConfiguration()
        pool.file.poolSize = 1 << 20
        #expect(throws: StorageError.self) { try pool.validate() }
    }
}

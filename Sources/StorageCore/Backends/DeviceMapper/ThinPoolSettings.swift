import KBSDeviceMapper

/// Where a thin-pool comes from and how it is guarded; the dm-thin backend's stored settings.
struct ThinPoolSettings: Codable, Sendable, Equatable {
    enum Source: Codable, Sendable, Equatable {
        /// A thin-pool someone else made and manages; kata-block only adds and removes thin devices.
        case existing
        /// Two files, loop-attached: for development and tests.
        case files(data: String, metadata: String)
        /// Two block devices.
        case devices(data: String, metadata: String)

        var name: String {
            switch self {
            case .existing: "existing"
            case .files: "files"
            case .devices: "devices"
            }
        }
    }

    /// The device-mapper name of the pool device.
    var poolName: String
    var source: Source
    /// Data block size in bytes (multiple of 64 KiB between 64 KiB and 1 GiB).
    var dataBlockSize: UInt64
    /// New snapshots are refused while less than this fraction of data or metadata space is free.
    var minFreeFraction: Double
    /// How a pool made from files grows by itself (nil in pools made before the setting: never).
    var autoGrow: EngineConfiguration.AutoGrowth?

    /// Only a pool made from files grows by itself.
    var canGrow: Bool {
        if case .files = source { return true }
        return false
    }

    /// Metadata device size from the kernel guide's formula: 48 bytes per data block, at least
    /// 2 MiB, at most the 16 GiB thin-pool metadata can address; rounded up to 4 KiB.
    static func metadataSize(dataSize: UInt64, dataBlockSize: UInt64) -> UInt64 {
        let formula = 48 * (dataSize / max(1, dataBlockSize))
        let bounded = min(max(formula, 2 << 20), 16 << 30)
        return (bounded + 4095) / 4096 * 4096
    }

    /// Schema 1 stored these as labels.
    init(legacyLabels labels: [String: String]) throws(StorageError) {
        guard let name = labels["poolName"], let block = labels["dataBlockSize"].flatMap(UInt64.init),
              let minFree = labels["minFree"].flatMap(Double.init), let kind = labels["source"] else {
            throw StorageError.inconsistent("the schema 1 thin-pool settings are incomplete")
        }
        let source: Source
        switch (kind, labels["data"], labels["metadata"]) {
        case ("existing", _, _): source = .existing
        case ("files", let data?, let metadata?): source = .files(data: data, metadata: metadata)
        case ("devices", let data?, let metadata?): source = .devices(data: data, metadata: metadata)
        default: throw StorageError.inconsistent("the schema 1 thin-pool source \(kind) is incomplete")
        }
        self.init(poolName: name, source: source, dataBlockSize: block, minFreeFraction: minFree)
    }

    init(poolName: String, source: Source, dataBlockSize: UInt64, minFreeFraction: Double) {
        self.poolName = poolName
        self.source = source
        self.dataBlockSize = dataBlockSize
        self.minFreeFraction = minFreeFraction
    }

    /// Checks what a user asked for before anything is made.
    func validate() throws(StorageError) {
        guard !poolName.isEmpty, poolName.utf8.count <= 100, !poolName.contains("/") else {
            throw StorageError(.invalidArgument, "thin-pool name \(StorageError.quoted(poolName)) must be 1-100 characters without '/'")
        }
        guard dataBlockSize >= 64 << 10, dataBlockSize <= 1 << 30, dataBlockSize % (64 << 10) == 0 else {
            throw StorageError(.invalidArgument, "data block size \(dataBlockSize) must be a multiple of 64 KiB between 64 KiB and 1 GiB")
        }
        try policy.validate()
    }
}

extension ThinPoolSettings: SpacePolicySettings {
    var policy: SpacePolicy {
        get { SpacePolicy(minFree: minFreeFraction, autoGrow: autoGrow) }
        set { (minFreeFraction, autoGrow) = (newValue.minFree, newValue.autoGrow) }
    }
}

/// The device-mapper thin-pool backend.
struct ThinPoolFactory: BackendFactory {
    static let kind = "dm-thin"
    var kind: String { Self.kind }

    func isAvailable() -> Bool { DeviceMapper.isAvailable() }

    func create(_ configuration: EngineConfiguration, in context: BackendContext) throws(StorageError) -> (backend: any BlockBackend, settings: [UInt8]) {
        let thin = configuration.thin
        let source: ThinPoolSettings.Source
        switch (thin.existing, thin.dataDevice, thin.metadataDevice) {
        case (true, nil, nil): source = .existing
        case (false, let data?, let metadata?): source = .devices(data: data, metadata: metadata)
        case (false, nil, nil): source = .files(data: "\(context.poolDirectory)/data", metadata: "\(context.poolDirectory)/metadata")
        default:
            throw StorageError(.invalidArgument, "give both a data and a metadata device, or neither (files in the state directory), or only \"existing\" with a pool name")
        }
        var settings = ThinPoolSettings(poolName: thin.poolName, source: source, dataBlockSize: thin.blockSize, minFreeFraction: thin.minFree)
        settings.policy = thin.policy
        let pool = try ThinPool.create(settings, dataSize: thin.dataSize, directory: context.poolDirectory, logger: context.logger)
        return (pool, try StoredSettings.encode(settings))
    }

    func open(settings: [UInt8], in context: BackendContext) throws(StorageError) -> any BlockBackend {
        try ThinPool.open(try StoredSettings.decode(ThinPoolSettings.self, settings, kind: kind), directory: context.poolDirectory, logger: context.logger)
    }

    func settings(fromLegacyLabels pool: [String: String], backend: [String: String]?) throws(StorageError) -> [UInt8] {
        guard let backend else { throw StorageError.inconsistent("the schema 1 thin-pool settings are missing") }
        return try StoredSettings.encode(try ThinPoolSettings(legacyLabels: backend))
    }
}

/// Everything a pool is made with and an engine runs with, with every default in one place.
/// Frontends fill it from their own sources (a daemon's config file, a driver's options) through
/// `set(_:to:)`, so every frontend knows the same keys and refuses the same unknown ones.
public struct EngineConfiguration: Sendable, Equatable {
    /// "auto" (dm-thin when the kernel has device-mapper, else file), or a backend kind.
    public var backend = EngineConfiguration.automaticBackend
    /// The filesystem on every device.
    public var filesystem: FilesystemType = .ext4
    /// Size of every new empty device (the base device's size).
    public var defaultDeviceSize: UInt64 = 10 << 30
    /// How long a call waits for another caller's operation on the same device before giving up.
    public var waitLimit: Duration = .seconds(30)
    public var file = File()
    public var thin = Thin()

    /// The file backend's settings.
    public struct File: Sendable, Equatable, SpacePolicyKeys {
        /// Size of the XFS pool file made when the state directory cannot reflink.
        public var poolSize: UInt64 = 64 << 30
        /// New snapshots and volumes are refused while less than this fraction of the pool is free.
        public var minFree = 0.10
        /// How the XFS pool file grows by itself.
        public var autoGrow = AutoGrowth()
    }

    /// A pool that grows by itself: by `step` bytes whenever less than `threshold` of it is free
    /// (checked before every new device and in the daemon's upkeep), up to `limit` bytes (0: as
    /// far as the host filesystem has room). A step of 0 turns it off.
    public struct AutoGrowth: Sendable, Equatable, Codable {
        public var step: UInt64 = 0
        public var threshold = 0.20
        public var limit: UInt64 = 0

        public init() {}

        /// The size to grow a pool of `size` bytes to, or nil when it is off or at its limit.
        func target(from size: UInt64) -> UInt64? {
            guard step > 0 else { return nil }
            let target = limit == 0 ? size + step : min(size + step, limit)
            return target > size ? target : nil
        }
    }

    /// The dm-thin backend's settings.
    public struct Thin: Sendable, Equatable, SpacePolicyKeys {
        /// The device-mapper name of the thin-pool.
        public var poolName = "kata-block-pool"
        /// Use the thin-pool named `poolName` as it is (managed outside kata-block).
        public var existing = false
        /// Data and metadata block devices; without both, two files in the pool directory.
        public var dataDevice: String?
        public var metadataDevice: String?
        /// Size of the data file when the pool is made from files.
        public var dataSize: UInt64 = 64 << 30
        /// Data block size (64 KiB suits heavy snapshotting).
        public var blockSize: UInt64 = 64 << 10
        /// New snapshots are refused while less than this fraction of data or metadata space is free.
        public var minFree = 0.10
        /// How a thin-pool made from files grows by itself (its data file, and its metadata file
        /// by the same formula as at creation).
        public var autoGrow = AutoGrowth()
    }

    public static let automaticBackend = "auto"
    /// The smallest device size accepted.
    public static let minimumDeviceSize: UInt64 = 512 << 20

    public init() {}

    /// Checks the settings together.
    public func validate() throws(StorageError) {
        guard defaultDeviceSize >= Self.minimumDeviceSize else {
            throw StorageError(.invalidArgument, "default_size \(ByteCount.format(Int64(defaultDeviceSize))) is below the minimum of \(ByteCount.format(Int64(Self.minimumDeviceSize)))")
        }
        guard file.poolSize >= defaultDeviceSize / 8 else {
            throw StorageError(.invalidArgument, "file.pool_size \(ByteCount.format(Int64(file.poolSize))) is too small for devices of \(ByteCount.format(Int64(defaultDeviceSize)))")
        }
        guard thin.dataSize >= 64 << 20 else {
            throw StorageError(.invalidArgument, "dm_thin.data_size must be at least 64MiB")
        }
        for (prefix, policy) in [("file", file.policy), ("dm_thin", thin.policy)] {
            do throws(StorageError) {
                try policy.validate()
            } catch {
                throw StorageError(.invalidArgument, "\(prefix).\(error.message)")
            }
        }
        guard waitLimit > .zero else { throw StorageError(.invalidArgument, "wait_timeout must be positive") }
    }

    /// One setting by name.
    public struct Key: Sendable {
        public let name: String
        public let help: String
        /// The default, as text.
        public let defaultValue: String
        let apply: @Sendable (inout EngineConfiguration, String) throws(StorageError) -> Void
    }

    /// Every setting, by the names config files and driver options use.
    public static let keys: [Key] = baseKeys + autoGrowKeys("file", \.file.autoGrow, "the XFS pool file") + autoGrowKeys("dm_thin", \.thin.autoGrow, "a thin-pool made from files")

    /// The three auto-grow keys of a backend's table.
    private static func autoGrowKeys(_ prefix: String, _ path: WritableKeyPath<EngineConfiguration, AutoGrowth> & Sendable, _ what: String) -> [Key] {
        [
            Key(name: "\(prefix).auto_grow_step", help: "grow \(what) by this much when it runs low (0: never)", defaultValue: "0") {
                (c, v) throws(StorageError) in c[keyPath: path].step = try size(v, "\(prefix).auto_grow_step")
            },
            Key(name: "\(prefix).auto_grow_threshold", help: "grow \(what) when less than this much of it is free", defaultValue: "20%") {
                (c, v) throws(StorageError) in c[keyPath: path].threshold = try fraction(v, "\(prefix).auto_grow_threshold")
            },
            Key(name: "\(prefix).auto_grow_limit", help: "the largest size \(what) grows to by itself (0: while the host filesystem has room)", defaultValue: "0") {
                (c, v) throws(StorageError) in c[keyPath: path].limit = try size(v, "\(prefix).auto_grow_limit")
            },
        ]
    }

    private static let baseKeys: [Key] = [
        Key(name: "backend", help: "auto (dm-thin when the kernel has device-mapper, else file), file or dm-thin", defaultValue: automaticBackend) {
            $0.backend = $1
        },
        Key(name: "filesystem", help: "the filesystem on every device: ext4 or xfs", defaultValue: "ext4") { (c, v) throws(StorageError) in
            guard let fs = FilesystemType(rawValue: v) else { throw StorageError(.invalidArgument, "filesystem \"\(v)\": use ext4 or xfs") }
            c.filesystem = fs
        },
        Key(name: "default_size", help: "size of every new empty device", defaultValue: "10GiB") { (c, v) throws(StorageError) in
            c.defaultDeviceSize = try size(v, "default_size")
        },
        Key(name: "wait_timeout", help: "how long a call waits for another caller's operation on the same device", defaultValue: "30s") {
            (c, v) throws(StorageError) in c.waitLimit = try duration(v, "wait_timeout")
        },
        Key(name: "file.pool_size", help: "size of the XFS pool file made when the state directory cannot reflink", defaultValue: "64GiB") {
            (c, v) throws(StorageError) in c.file.poolSize = try size(v, "file.pool_size")
        },
        Key(name: "file.min_free", help: "refuse new snapshots and volumes below this much free pool space, e.g. 10%", defaultValue: "10%") {
            (c, v) throws(StorageError) in c.file.minFree = try fraction(v, "file.min_free")
        },
        Key(name: "dm_thin.pool_name", help: "device-mapper name of the thin-pool", defaultValue: "kata-block-pool") { $0.thin.poolName = $1 },
        Key(name: "dm_thin.existing", help: "use the thin-pool named pool_name as it is", defaultValue: "false") { (c, v) throws(StorageError) in
            c.thin.existing = try flag(v, "dm_thin.existing")
        },
        Key(name: "dm_thin.data_device", help: "data block device (with metadata_device); without both, two files in the state directory",
            defaultValue: "") { $0.thin.dataDevice = $1.isEmpty ? nil : $1 },
        Key(name: "dm_thin.metadata_device", help: "metadata block device", defaultValue: "") { $0.thin.metadataDevice = $1.isEmpty ? nil : $1 },
        Key(name: "dm_thin.data_size", help: "size of the data file when the pool is made from files", defaultValue: "64GiB") {
            (c, v) throws(StorageError) in c.thin.dataSize = try size(v, "dm_thin.data_size")
        },
        Key(name: "dm_thin.block_size", help: "data block size", defaultValue: "64KiB") { (c, v) throws(StorageError) in
            c.thin.blockSize = try size(v, "dm_thin.block_size")
        },
        Key(name: "dm_thin.min_free", help: "refuse new snapshots below this much free data or metadata, e.g. 10%", defaultValue: "10%") {
            (c, v) throws(StorageError) in c.thin.minFree = try fraction(v, "dm_thin.min_free")
        },
    ]

    /// Sets the setting `name` from its text; an unknown name is refused, naming it.
    public mutating func set(_ name: String, to value: String) throws(StorageError) {
        guard let key = Self.keys.first(where: { $0.name == name }) else {
            throw StorageError(.invalidArgument, "unknown setting \"\(name)\"; the settings are \(Self.keys.map(\.name).joined(separator: ", "))")
        }
        try key.apply(&self, value)
    }

    static func size(_ text: String, _ name: String) throws(StorageError) -> UInt64 {
        guard let bytes = ByteCount.parse(text) else { throw StorageError(.invalidArgument, "\(name) \"\(text)\" is not a size; use e.g. 10GiB or 512MiB") }
        return bytes
    }

    static func flag(_ text: String, _ name: String) throws(StorageError) -> Bool {
        switch text.lowercased() {
        case "true", "yes", "1": return true
        case "false", "no", "0": return false
        default: throw StorageError(.invalidArgument, "\(name) \"\(text)\" is not true or false")
        }
    }

    /// "10%" or "0.1".
    public static func fraction(_ text: String, _ name: String) throws(StorageError) -> Double {
        let trimmed = text.trimmingCharacters(in: " ")
        if trimmed.hasSuffix("%"), let percent = Double(trimmed.dropLast()), percent >= 0, percent < 100 { return percent / 100 }
        if let value = Double(trimmed), value >= 0, value < 1 { return value }
        throw StorageError(.invalidArgument, "\(name) \"\(text)\": use a percentage such as 10% (or a fraction such as 0.1)")
    }

    /// "30s", "500ms", "2m" or plain seconds.
    static func duration(_ text: String, _ name: String) throws(StorageError) -> Duration {
        let trimmed = text.trimmingCharacters(in: " ")
        for (suffix, scale) in [("ms", 0.001), ("s", 1.0), ("m", 60.0)] where trimmed.hasSuffix(suffix) {
            if let value = Double(trimmed.dropLast(suffix.count)), value > 0 { return .milliseconds(Int64(value * scale * 1000)) }
        }
        if let seconds = Double(trimmed), seconds > 0 { return .milliseconds(Int64(seconds * 1000)) }
        throw StorageError(.invalidArgument, "\(name) \"\(text)\" is not a duration; use e.g. 30s or 500ms")
    }
}

extension String {
    func trimmingCharacters(in character: Character) -> String {
        var s = Substring(self)
        while s.first == character { s.removeFirst() }
        while s.last == character { s.removeLast() }
        return String(s)
    }
}

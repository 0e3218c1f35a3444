/// How a file pool gets a reflink-capable filesystem; stored as the pool's backend settings.
struct FilePoolSettings: Codable, Sendable, Equatable {
    enum Layout: String, Codable, Sendable {
        /// Images sit directly in the pool directory (it is XFS or btrfs).
        case native
        /// Images sit in an XFS filesystem on a file in the pool directory.
        case xfsFile = "xfs-file"
    }

    var layout: Layout
    /// New devices are refused while less than this fraction of the pool is free (nil in pools
    /// made before the setting existed: `defaultMinFree`).
    var minFree: Double?
    /// How an XFS pool file grows by itself (nil in pools made before the setting: never).
    var autoGrow: EngineConfiguration.AutoGrowth?
    /// Bytes the pool's filesystem used when it was new: its own metadata, counted as used.
    var emptyUsedBytes: Int64?

    static let defaultMinFree = 0.10

    init(layout: Layout, policy: EngineConfiguration.File = .init()) {
        self.layout = layout
        self.policy = policy.policy
    }

    /// Only an XFS pool file grows (by hand or by itself).
    var canGrow: Bool { layout == .xfsFile }
}

extension FilePoolSettings: SpacePolicySettings {
    var policy: SpacePolicy {
        get { SpacePolicy(minFree: minFree ?? Self.defaultMinFree, autoGrow: autoGrow) }
        set { (minFree, autoGrow) = (newValue.minFree, newValue.autoGrow) }
    }
}

/// The reflink file backend, for hosts without device-mapper.
struct FilePoolFactory: BackendFactory {
    static let kind = "file"
    var kind: String { Self.kind }

    func isAvailable() -> Bool { true }

    func create(_ configuration: EngineConfiguration, in context: BackendContext) throws(StorageError) -> (backend: any BlockBackend, settings: [UInt8]) {
        let pool = try ReflinkFilePool.create(directory: context.poolDirectory, size: configuration.file.poolSize, policy: configuration.file,
                                          logger: context.logger)
        return (pool, try StoredSettings.encode(pool.settings))
    }

    func open(settings: [UInt8], in context: BackendContext) throws(StorageError) -> any BlockBackend {
        try ReflinkFilePool.open(directory: context.poolDirectory, settings: try StoredSettings.decode(FilePoolSettings.self, settings, kind: kind),
                                 logger: context.logger)
    }

    func settings(fromLegacyLabels pool: [String: String], backend: [String: String]?) throws(StorageError) -> [UInt8] {
        guard let layout = pool["layout"].flatMap(FilePoolSettings.Layout.init(rawValue:)) else {
            throw StorageError.inconsistent("the schema 1 file pool has no layout")
        }
        return try StoredSettings.encode(FilePoolSettings(layout: layout))
    }
}

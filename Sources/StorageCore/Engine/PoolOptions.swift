/// How to make a new pool.
public struct PoolOptions: Sendable {
    public enum Backend: Sendable {
        /// Reflinked image files; `poolSize` bounds the XFS pool file made when the directory cannot reflink.
        case file(poolSize: UInt64)
        /// A device-mapper thin-pool; `dataSize` sizes the data file when the pool is made from files.
        case thin(ThinPoolSettings, dataSize: UInt64)
        /// In-memory devices for unit tests of the graph; nothing is mountable.
        case memory(MemoryBackend)
    }

    public var backend: Backend
    public var filesystem: FilesystemType
    /// Size of every new empty device (the base device's size).
    public var defaultDeviceSize: UInt64

    public init(backend: Backend = .file(poolSize: 64 << 30), filesystem: FilesystemType = .ext4, defaultDeviceSize: UInt64 = 10 << 30) {
        self.backend = backend
        self.filesystem = filesystem
        self.defaultDeviceSize = defaultDeviceSize
    }
}

/// A pool's settings as stored in the metadata store, read back at every open.
struct PoolConfig: Sendable, Equatable {
    var backend: String
    var layout: String
    var filesystem: FilesystemType
    var defaultDeviceSize: UInt64
    var baseDeviceID: UInt32

    var labels: [String: String] {
        ["backend": backend, "layout": layout, "filesystem": filesystem.rawValue,
         "defaultDeviceSize": "\(defaultDeviceSize)", "baseDevice": "\(baseDeviceID)"]
    }

    init(backend: String, layout: String, filesystem: FilesystemType, defaultDeviceSize: UInt64, baseDeviceID: UInt32) {
        self.backend = backend
        self.layout = layout
        self.filesystem = filesystem
        self.defaultDeviceSize = defaultDeviceSize
        self.baseDeviceID = baseDeviceID
    }

    init(labels: [String: String]) throws(StorageError) {
        guard let backend = labels["backend"], let layout = labels["layout"],
              let fs = labels["filesystem"].flatMap(FilesystemType.init(rawValue:)),
              let size = labels["defaultDeviceSize"].flatMap(UInt64.init),
              let base = labels["baseDevice"].flatMap(UInt32.init) else {
            throw StorageError(.internal, "stored pool settings are incomplete; run `snapctl fsck`")
        }
        self.init(backend: backend, layout: layout, filesystem: fs, defaultDeviceSize: size, baseDeviceID: base)
    }
}

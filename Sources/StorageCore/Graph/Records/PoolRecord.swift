/// A pool's settings as stored, read back at every open: the filesystem on its devices, their
/// default size, the base device, and the backend with its own settings (opaque to the graph).
struct PoolRecord: Sendable, Equatable {
    static let formatVersion: UInt8 = 2

    var backendKind: String
    /// The backend's settings in its own encoding (`BackendFactory`).
    var backendSettings: [UInt8]
    var filesystem: FilesystemType
    var defaultDeviceSize: UInt64
    var baseDeviceID: UInt32

    func encoded() -> [UInt8] {
        var w = RecordWriter(capacity: 64 + backendSettings.count)
        w.write(Self.formatVersion)
        w.write(backendKind)
        w.write(backendSettings)
        w.write(filesystem.rawValue)
        w.write(defaultDeviceSize)
        w.write(baseDeviceID)
        return w.bytes
    }

    init(backendKind: String, backendSettings: [UInt8], filesystem: FilesystemType, defaultDeviceSize: UInt64, baseDeviceID: UInt32) {
        self.backendKind = backendKind
        self.backendSettings = backendSettings
        self.filesystem = filesystem
        self.defaultDeviceSize = defaultDeviceSize
        self.baseDeviceID = baseDeviceID
    }

    init(decoding raw: UnsafeRawBufferPointer) throws(StorageError) {
        var r = RecordReader(raw, what: "pool")
        _ = try r.version(2...2)
        backendKind = try r.readString()
        backendSettings = try r.readBytes()
        let fs = try r.readString()
        guard let filesystem = FilesystemType(rawValue: fs) else { throw StorageError.inconsistent("the pool record names an unknown filesystem \(fs)") }
        self.filesystem = filesystem
        defaultDeviceSize = try r.read()
        baseDeviceID = try r.read()
    }
}

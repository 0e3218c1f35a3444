/// A backend device as stored, in the same transaction as the snapshot that owns it.
public struct DeviceRecord: Sendable, Equatable {
    static let formatVersion: UInt8 = 1

    public var id: UInt32
    /// Owning snapshot's stored id; 0 for the pool's base device.
    public var snapshotID: UInt64
    /// Device this one was cloned from; 0 when made empty.
    public var originID: UInt32
    public var sizeBytes: UInt64
    public var state: DeviceState
    /// Attached read-only (views).
    public var readOnly: Bool
    /// Block device while active; while inactive, a block device still detaching (deferred until
    /// its last user, such as a foreign mount, lets go), or empty.
    public var path: String
    /// For `faulty`: the operation that failed and its error.
    public var fault: String

    init(id: UInt32, snapshotID: UInt64, originID: UInt32, sizeBytes: UInt64, state: DeviceState,
         readOnly: Bool = false, path: String = "", fault: String = "") {
        self.id = id
        self.snapshotID = snapshotID
        self.originID = originID
        self.sizeBytes = sizeBytes
        self.state = state
        self.readOnly = readOnly
        self.path = path
        self.fault = fault
    }

    /// Moves to `next`, refusing moves the state machine does not allow.
    mutating func move(to next: DeviceState, path: String? = nil, fault: String = "") throws(StorageError) {
        guard state.canMove(to: next) else {
            throw StorageError(.internal, "device \(id) cannot go from \(state) to \(next); run `snapctl fsck`")
        }
        state = next
        if next == .inactive { self.path = "" }
        if let path { self.path = path }
        self.fault = fault
    }

    func encoded() -> [UInt8] {
        var w = RecordWriter(capacity: 64 + path.utf8.count + fault.utf8.count)
        w.write(Self.formatVersion)
        w.write(id)
        w.write(snapshotID)
        w.write(originID)
        w.write(sizeBytes)
        w.write(state.rawValue)
        w.write(UInt8(readOnly ? 1 : 0))
        w.write(path)
        w.write(fault)
        return w.bytes
    }

    init(decoding raw: UnsafeRawBufferPointer) throws(StorageError) {
        var r = RecordReader(raw, what: "device")
        let version: UInt8 = try r.read()
        guard version == Self.formatVersion else {
            throw StorageError(.internal, "device record format \(version) is newer than this snapctl understands; upgrade snapctl")
        }
        id = try r.read()
        snapshotID = try r.read()
        originID = try r.read()
        sizeBytes = try r.read()
        guard let s = DeviceState(rawValue: try r.read()) else {
            throw StorageError(.internal, "device record has an unknown state; run `snapctl fsck`")
        }
        state = s
        readOnly = try r.read(UInt8.self) != 0
        path = try r.readString()
        fault = try r.readString()
    }
}

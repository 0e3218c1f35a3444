/// A snapshot with its device, for administrators.
public struct SnapshotDetails: Sendable, Equatable {
    public var info: SnapshotInfo
    public var device: DeviceInfo?
}

/// A snapshot's device as administrators see it.
public struct DeviceInfo: Sendable, Equatable {
    public var id: UInt32
    public var state: DeviceState
    /// The block device while attached.
    public var path: String?
    public var sizeBytes: UInt64
    public var readOnly: Bool
    /// The device it was cloned from (0: made empty).
    public var originID: UInt32
    /// Why it is faulty.
    public var fault: String?
    /// Where the engine has its filesystem mounted on the host, and for how many users.
    public var mountedAt: String?
    public var mountUsers: Int
    /// The filesystem on it.
    public var filesystem: FilesystemType

    init(_ record: DeviceRecord, filesystem: FilesystemType) {
        id = record.id
        state = record.state
        path = record.path.isEmpty ? nil : record.path
        sizeBytes = record.sizeBytes
        readOnly = record.readOnly
        originID = record.originID
        fault = record.fault.isEmpty ? nil : record.fault
        mountedAt = record.hostMount?.directory
        mountUsers = Int(record.hostMount?.count ?? 0)
        self.filesystem = filesystem
    }
}

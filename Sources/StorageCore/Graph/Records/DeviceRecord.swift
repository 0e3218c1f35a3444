import KBSSystem

/// A backend device as stored, in the same transaction as the snapshot that owns it.
struct DeviceRecord: Sendable, Equatable {
    /// Format 4 adds a filesystem of the device's own; records without one are still written as 3.
    static let formatVersion: UInt8 = 4

    var id: UInt32
    /// Owning snapshot's stored id; 0 for the pool's base device and orphans being deleted.
    var snapshotID: UInt64
    /// Device this one was cloned from; 0 when made empty.
    var originID: UInt32
    var sizeBytes: UInt64
    var state: DeviceState
    /// Attached read-only (views).
    var readOnly: Bool
    /// Block device while active; while inactive, a block device still detaching (deferred until
    /// its last user, such as a foreign mount, lets go), or empty.
    var path: String
    /// For `faulty`: the operation that failed and its error.
    var fault: String
    /// In a trying state: the process running the operation. None for a removal queued for the
    /// reaper (and for records of schema 1, which are taken as left by a crash).
    var owner: ProcessIdentity?
    /// The engine's host mount of the device's filesystem (containers/storage's Get/Put).
    var hostMount: HostMount?
    /// The filesystem on the device when it is not the pool's (a volume made with another one,
    /// and its snapshots); nil for the pool's.
    var filesystem: FilesystemType?

    init(id: UInt32, snapshotID: UInt64, originID: UInt32, sizeBytes: UInt64, state: DeviceState,
         readOnly: Bool = false, path: String = "", fault: String = "", owner: ProcessIdentity? = nil, hostMount: HostMount? = nil, filesystem: FilesystemType? = nil) {
        self.id = id
        self.snapshotID = snapshotID
        self.originID = originID
        self.sizeBytes = sizeBytes
        self.state = state
        self.readOnly = readOnly
        self.path = path
        self.fault = fault
        self.owner = owner
        self.hostMount = hostMount
        self.filesystem = filesystem
    }

    /// Moves to `next`, refusing moves the state machine does not allow. A settled state drops the owner.
    mutating func move(to next: DeviceState, path: String? = nil, fault: String = "") throws(StorageError) {
        guard state.canMove(to: next) else {
            throw StorageError.inconsistent("device \(id) cannot go from \(state) to \(next)")
        }
        state = next
        if next == .inactive { self.path = "" }
        if let path { self.path = path }
        self.fault = fault
        if !next.isTrying { owner = nil }
    }

    func encoded() -> [UInt8] {
        var w = RecordWriter(capacity: 96 + path.utf8.count + fault.utf8.count)
        w.write(filesystem == nil ? 3 : Self.formatVersion)
        w.write(id)
        w.write(snapshotID)
        w.write(originID)
        w.write(sizeBytes)
        w.write(state.rawValue)
        w.write(readOnly)
        w.write(path)
        w.write(fault)
        w.write(owner != nil)
        if let owner {
            w.write(owner.bootID)
            w.write(owner.pid)
            w.write(owner.startTime)
        }
        w.write(hostMount != nil)
        if let hostMount {
            w.write(hostMount.directory)
            w.write(hostMount.count)
            w.write(hostMount.readOnly)
            w.write(hostMount.detachAfter)
            w.write(hostMount.flags.rawValue)
            w.write(hostMount.options.joined(separator: ","))
        }
        if let filesystem { w.write(filesystem.rawValue) }
        return w.bytes
    }

    /// Decodes formats 2 (host mounts without flags), 3 and 4 (a filesystem of its own), or with `legacy` format 1 (schema 1: no
    /// owner, no host mount).
    init(decoding raw: UnsafeRawBufferPointer, legacy: Bool = false) throws(StorageError) {
        var r = RecordReader(raw, what: "device")
        let version = try r.version(legacy ? 1...Self.formatVersion : 2...Self.formatVersion)
        id = try r.read()
        snapshotID = try r.read()
        originID = try r.read()
        sizeBytes = try r.read()
        guard let s = DeviceState(rawValue: try r.read()) else { throw StorageError.inconsistent("a device record has an unknown state") }
        state = s
        readOnly = try r.readFlag()
        path = try r.readString()
        fault = try r.readString()
        owner = nil
        hostMount = nil
        filesystem = nil
        guard version >= 2 else { return }
        if try r.readFlag() {
            owner = ProcessIdentity(bootID: try r.readString(), pid: try r.read(), startTime: try r.read())
        }
        if try r.readFlag() {
            var mount = HostMount(directory: try r.readString(), count: try r.read(), readOnly: try r.readFlag(), detachAfter: try r.readFlag())
            if version >= 3 {
                mount.flags = MountFlags(rawValue: try r.read())
                mount.options = try r.readString().split(separator: ",").map(String.init)
            }
            hostMount = mount
        }
        if version >= 4 {
            let name = try r.readString()
            guard let type = FilesystemType(rawValue: name) else { throw StorageError.inconsistent("a device record names an unknown filesystem \(name)") }
            filesystem = type
        }
    }
}

/// A host mount of a device's filesystem made by the engine, counted across processes.
struct HostMount: Sendable, Equatable {
    var directory: String
    /// Get calls not yet matched by a Put; the last Put unmounts.
    var count: UInt32
    var readOnly: Bool
    /// The device was attached for this mount and is detached again when it goes.
    var detachAfter: Bool
    /// What the first caller asked for besides read-only (nosuid, nodev, noexec, atime words).
    var flags: MountFlags = []
    /// Filesystem options the first caller asked for, after the engine's own.
    var options: [String] = []
}

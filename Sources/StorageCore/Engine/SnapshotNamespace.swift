/// The snapshots of one frontend's namespace: what containerd's snapshots service and
/// containers/storage's graph driver each see. Names are unique within a namespace, parents are
/// in the same namespace, and nothing here sees another namespace's snapshots.
public struct SnapshotNamespace: Sendable {
    public let engine: StorageEngine
    public let name: String

    private var pool: Pool { engine.pool }

    /// Creates an active (writable) snapshot `key` on the committed `parent`, or empty, and
    /// returns its mounts. `size` grows its device (and filesystem) beyond the parent's or the
    /// pool default.
    public func prepare(_ key: String, parent: String? = nil, labels: [String: String] = [:], size: UInt64? = nil) async throws(StorageError) -> [Mount] {
        let name = name
        return try await engine.changing("prepare") { (pool) throws(StorageError) in
            try pool.createSnapshot(key, in: name, kind: .active, parent: parent, labels: labels, size: size)
        }
    }

    /// Creates a read-only view `key` of the committed `parent`, or of an empty filesystem, and returns its mounts.
    public func view(_ key: String, parent: String? = nil, labels: [String: String] = [:]) async throws(StorageError) -> [Mount] {
        let name = name
        return try await engine.changing("view") { (pool) throws(StorageError) in
            try pool.createSnapshot(key, in: name, kind: .view, parent: parent, labels: labels)
        }
    }

    /// Creates an active snapshot `key` whose contents are a copy-on-write copy of `source` (any
    /// kind, not mounted writable) and whose parent is `source`'s parent: containers/storage's
    /// `CreateFromTemplate`.
    public func clone(_ key: String, from source: String, labels: [String: String] = [:]) async throws(StorageError) -> [Mount] {
        let name = name
        return try await engine.changing("clone") { (pool) throws(StorageError) in
            try pool.createSnapshot(key, in: name, kind: .active, parent: nil, template: source, labels: labels)
        }
    }

    /// Commits the active snapshot `key` as the immutable snapshot `name`; the key goes away.
    public func commit(_ committedName: String, key: String, labels: [String: String] = [:]) async throws(StorageError) {
        let name = name
        try await engine.changing("commit") { (pool) throws(StorageError) in try pool.commit(committedName, key: key, in: name, labels: labels) }
    }

    /// Makes the active snapshot `key` committed under its own name, even while it is mounted on
    /// the host (the mount becomes read-only): containers/storage's layer about to become a parent.
    public func freeze(_ key: String) async throws(StorageError) {
        let name = name
        try await engine.changing("freeze") { (pool) throws(StorageError) in try pool.freeze(key, in: name) }
    }

    /// Removes the snapshot `key` and deletes its device. Refused while it has children or is
    /// mounted. With `deferDeviceDeletion` the snapshot is gone when this returns and its device
    /// is deleted by the next `StorageEngine.maintain` (containerd's async remove).
    public func remove(_ key: String, deferDeviceDeletion: Bool = false) async throws(StorageError) {
        let name = name
        try await engine.changing("remove") { (pool) throws(StorageError) in try pool.remove(key, in: name, deferDeviceDeletion: deferDeviceDeletion) }
    }

    // Reads of the store run in place: they never block and never wait for writers.

    /// The snapshot `key` (an active or view key, or a committed name).
    public func stat(_ key: String) throws(StorageError) -> SnapshotInfo { try pool.stat(key, in: name) }

    /// The snapshot with its device, for administrators.
    public func inspect(_ key: String) throws(StorageError) -> SnapshotDetails { try pool.inspect(key, in: name) }

    /// Changes labels: `fieldPaths` empty or containing "labels" replaces all of them;
    /// "labels.NAME" sets or (when absent from `info`) deletes one. Other fields are immutable.
    public func update(_ info: SnapshotInfo, fieldPaths: [String] = []) async throws(StorageError) -> SnapshotInfo {
        let name = name
        return try await engine.blocking { (pool) throws(StorageError) in try pool.update(info, in: name, fieldPaths: fieldPaths) }
    }

    /// Visits every snapshot matching `filter`, in creation order, from one consistent view of the
    /// store (a read: it runs in place and never waits).
    public func walk(_ filter: SnapshotFilter = .all, _ body: (SnapshotInfo) throws(StorageError) -> Void) throws(StorageError) {
        try pool.walk(name, filter, body)
    }

    /// Every snapshot matching `filter`.
    public func list(_ filter: SnapshotFilter = .all) throws(StorageError) -> [SnapshotInfo] {
        try engine.list(filter, namespace: name)
    }

    /// The mounts of an active snapshot or view, attaching its device again if it was detached
    /// (after a reboot); an attached one is answered from the store alone.
    public func mounts(_ key: String) async throws(StorageError) -> [Mount] {
        if let attached = try attachedMounts(key) { return attached }
        let name = name
        return try await engine.changing("mounts") { (pool) throws(StorageError) in try pool.mounts(key, in: name) }
    }

    /// The mounts of an active snapshot or view whose device is attached, from the store alone (a
    /// read: it runs in place and never waits); nil when `mounts` has a device to attach.
    public func attachedMounts(_ key: String) throws(StorageError) -> [Mount]? {
        try pool.attachedMounts(key, in: name)
    }

    /// Space the snapshot holds of its own: bytes not shared with its parent, and inodes added.
    public func usage(_ key: String) async throws(StorageError) -> SnapshotUsage {
        let name = name
        return try await engine.blocking { (pool) throws(StorageError) in try pool.usage(key, in: name) }
    }

    /// Bytes of the snapshot's device written since it left its parent, and bytes still shared with it.
    public func deviceUsage(_ key: String) async throws(StorageError) -> DeviceUsage {
        let name = name
        return try await engine.blocking { (pool) throws(StorageError) in try pool.deviceUsage(key, in: name) }
    }

    /// Mounts the snapshot's filesystem on the host (read-only unless it is active and `options`
    /// do not say `ro`) and returns the directory; counted across processes, so every call needs
    /// one `unmountFilesystem`. `options` are mount(8) words (`nosuid,nodev,noexec`, filesystem
    /// options); the call that mounts applies them, later ones share that mount.
    public func mountFilesystem(_ key: String, options: [String] = []) async throws(StorageError) -> String {
        let name = name
        return try await engine.changing("mount") { (pool) throws(StorageError) in try pool.mountFilesystem(key, in: name, options: options) }
    }

    /// Drops one host mount of the snapshot; the last one unmounts it, from whichever process calls it.
    public func unmountFilesystem(_ key: String) async throws(StorageError) {
        let name = name
        try await engine.changing("unmount") { (pool) throws(StorageError) in try pool.unmountFilesystem(key, in: name) }
    }

    /// Mounts the snapshot for the duration of `body`; it is unmounted whatever happens.
    public func withMountedSnapshot<R: Sendable>(_ key: String, _ body: (String) async throws -> R) async throws -> R {
        let directory = try await mountFilesystem(key)
        do {
            let result = try await body(directory)
            try await unmountFilesystem(key)
            return result
        } catch {
            try? await unmountFilesystem(key)
            throw error
        }
    }
}

import KBSSystem

/// containers/storage's graph-driver model over a namespace of snapshots: layers and container
/// layers are active snapshots named by their ids; a layer becomes immutable in place (committed
/// under its own id) when the first child is made on it, since containers/storage has no commit
/// step; `get`/`put` are the counted host mounts; Diff, Changes, ApplyDiff and DiffSize are the
/// engine's own. The graph driver is a thin adapter over this.
public struct LayerStore: Sendable {
    public let snapshots: SnapshotNamespace

    /// The namespace containers/storage's layers live in, unless a driver option names another.
    public static let defaultNamespace = "containers-storage"
    /// Mode of the root of a new layer without a parent (what containers/storage's drivers make).
    public static let emptyRootMode: UInt32 = 0o555
    /// Label saying what containers/storage made a snapshot as.
    public static let kindLabel = "containers-storage.kind"

    public init(_ snapshots: SnapshotNamespace) { self.snapshots = snapshots }

    /// Creates the layer `id` on `parent` (freezing the parent in place), or empty with a root of
    /// mode 0555; `writable` marks a container layer. `size` grows its device and filesystem.
    public func create(_ id: String, parent: String?, writable: Bool, size: UInt64? = nil) async throws(StorageError) {
        let labels = [Self.kindLabel: writable ? "container" : "layer"]
        if let parent {
            // Refused before the parent is frozen, so that a refused call changes nothing.
            if let size, let below = try snapshots.inspect(parent).device?.sizeBytes, size < below {
                throw StorageError(.invalidArgument, "a layer of \(ByteCount.format(Int64(size))) cannot hold its parent's \(ByteCount.format(Int64(below))); layers only grow")
            }
            try await freeze(parent)
        }
        _ = try await snapshots.prepare(id, parent: parent, labels: labels, size: size)
        guard parent == nil else { return }
        do throws(StorageError) {
            try await snapshots.whileMounted(id) { (root) async throws(StorageError) in
                try await snapshots.engine.blocking { (_) throws(StorageError) in
                    try system("cannot set the mode of \(root)") { () throws(SystemCallError) in
                        try Directory.open(root).setMode(".", Self.emptyRootMode)
                    }
                }
            }
        } catch {
            try? await snapshots.remove(id)
            throw error
        }
    }

    /// Creates the layer `id` as a copy-on-write copy of `template` (on the template's parent).
    public func create(_ id: String, template: String, writable: Bool) async throws(StorageError) {
        _ = try await snapshots.clone(id, from: template, labels: [Self.kindLabel: writable ? "container" : "layer"])
    }

    /// Makes the layer `id` immutable in place, if it is not already: it is about to be a parent.
    public func freeze(_ id: String) async throws(StorageError) {
        guard try snapshots.stat(id).kind == .active else { return }
        try await snapshots.freeze(id)
    }

    /// Removes the layer and its device; refused while it is mounted or has children.
    public func remove(_ id: String) async throws(StorageError) { try await snapshots.remove(id) }

    /// Mounts the layer's filesystem on the host with mount(8) `options` and returns the mount
    /// point, which is the filesystem's root; counted, one `put` each. Flushed to the device
    /// before it returns, so a guest given the device sees what was written through the mount.
    public func get(_ id: String, options: [String] = []) async throws(StorageError) -> String {
        let root = try await snapshots.mountFilesystem(id, options: options)
        do throws(StorageError) {
            try await snapshots.engine.blocking { (_) throws(StorageError) in try flushFilesystem(root) }
        } catch {
            try? await snapshots.unmountFilesystem(id)
            throw error
        }
        return root
    }

    /// Drops one `get`; the last one unmounts, from any process. A layer that is not mounted is
    /// left as it is (containers/storage releases a mount it lost track of this way).
    public func put(_ id: String) async throws(StorageError) {
        guard try snapshots.inspect(id).device?.mountedAt != nil else { return }
        try await snapshots.unmountFilesystem(id)
    }

    public func exists(_ id: String) -> Bool { (try? snapshots.stat(id)) != nil }

    /// What containers/storage shows as the layer's driver metadata.
    public func metadata(_ id: String) async throws(StorageError) -> [(String, String)] {
        let details = try snapshots.inspect(id)
        let status = try await snapshots.engine.status()
        var fields: [(String, String)] = [
            ("Backend", status.backend), ("Filesystem", status.filesystem.rawValue), ("Kind", "\(details.info.kind)"),
        ]
        if let device = details.device {
            fields += [("DeviceId", "\(device.id)"), ("DeviceSize", "\(device.sizeBytes)"), ("DeviceState", "\(device.state)")]
            if let path = device.path { fields.append(("DevicePath", path)) }
            if let mount = device.mountedAt { fields += [("MountPoint", mount), ("MountUsers", "\(device.mountUsers)")] }
        }
        return fields
    }

    /// The layer's own space: bytes not shared with its parent, and inodes added.
    public func usage(_ id: String) async throws(StorageError) -> SnapshotUsage { try await snapshots.usage(id) }

    /// Applies an uncompressed layer tar read from `fd` to the (not yet frozen) layer; returns the
    /// bytes of file data written.
    public func applyDiff(_ id: String, tar fd: Int32, options: ApplyOptions = .init()) async throws(StorageError) -> Int64 {
        try await snapshots.applyLayer(id, tar: fd, options: options).dataBytes
    }

    /// The layer's changes against `parent` (nil: an empty tree) as an OCI layer tar written to `fd`.
    public func diff(_ id: String, parent: String?, to fd: Int32) async throws(StorageError) -> Int64 {
        try await snapshots.exportLayer(id, against: Self.base(parent), to: fd)
    }

    public func changes(_ id: String, parent: String?) async throws(StorageError) -> [LayerChange] {
        try await snapshots.changes(id, against: Self.base(parent))
    }

    public func diffSize(_ id: String, parent: String?) async throws(StorageError) -> Int64 {
        try await snapshots.changedBytes(id, against: Self.base(parent))
    }

    private static func base(_ parent: String?) -> LayerBase { parent.map { .snapshot($0) } ?? .empty }
}

/// Writes what is cached for the filesystem mounted at `directory` to its device (syncfs).
func flushFilesystem(_ directory: String) throws(StorageError) {
    try system("cannot flush \(directory) to its device") { () throws(SystemCallError) in
        try FileDescriptor.withOpened(directory, .directory) { (dir) throws(SystemCallError) in try dir.syncFilesystem() }
    }
}

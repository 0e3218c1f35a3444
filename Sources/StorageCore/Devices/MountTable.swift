import Glibc
import Synchronization

/// Host mounts of snapshot filesystems made by this process, counted per snapshot
/// (containers/storage's `Get`/`Put`). Mount points are `<state>/mounts/<snapshot id>`.
final class MountTable: Sendable {
    private struct Entry {
        var directory: String
        var count: Int
        var deviceWasActive: Bool
    }

    private let entries = Mutex<[UInt64: Entry]>([:])
    let directory: String

    init(directory: String) { self.directory = directory }

    func count(_ id: UInt64) -> Int { entries.withLock { $0[id]?.count ?? 0 } }

    func directory(_ id: UInt64) -> String? { entries.withLock { $0[id]?.directory } }

    /// Takes one reference; `mount` runs for the first one and returns whether the device was already attached.
    func acquire(_ id: UInt64, mount: (String) throws(StorageError) -> Bool) throws(StorageError) -> String {
        try entries.withLock { (table) throws(StorageError) -> String in
            if var entry = table[id] {
                entry.count += 1
                table[id] = entry
                return entry.directory
            }
            let target = "\(directory)/\(id)"
            try ReflinkFilePool.makeDirectory(target)
            let wasActive = try mount(target)
            table[id] = Entry(directory: target, count: 1, deviceWasActive: wasActive)
            return target
        }
    }

    /// Drops one reference; `unmount` runs for the last one with the directory and whether to keep the device attached.
    func release(_ id: UInt64, unmount: (String, Bool) throws(StorageError) -> Void) throws(StorageError) {
        try entries.withLock { (table) throws(StorageError) in
            guard var entry = table[id] else {
                throw StorageError(.failedPrecondition, "snapshot is not mounted by snapctl")
            }
            if entry.count > 1 {
                entry.count -= 1
                table[id] = entry
                return
            }
            try unmount(entry.directory, entry.deviceWasActive)
            rmdir(entry.directory)
            table[id] = nil
        }
    }

    /// Unmounts everything (engine shutdown).
    func unmountAll() throws(StorageError) {
        try entries.withLock { (table) throws(StorageError) in
            for (id, entry) in table {
                try Mounter.unmount(entry.directory)
                rmdir(entry.directory)
                table[id] = nil
            }
        }
    }
}

/// Used inodes of a mounted filesystem.
func usedInodes(mountedAt path: String) -> Int64 {
    var fs = statvfs()
    guard statvfs(path, &fs) == 0 else { return 0 }
    return Int64(fs.f_files) - Int64(fs.f_ffree)
}

/// Host mounts of snapshot filesystems.
extension StorageEngine {
    /// Mounts the snapshot's filesystem on the host (read-only unless it is active) and returns the
    /// directory; counted, so every call needs one `unmountFilesystem`.
    public func mountFilesystem(_ key: String) throws(StorageError) -> String {
        guard backend.providesBlockDevices else {
            throw StorageError(.unavailable, "the \(backend.kind) backend has no mountable devices")
        }
        let (record, device) = try snapshotAndDevice(key)
        let readOnly = record.kind != .active
        return try mounts.acquire(record.id) { (target) throws(StorageError) -> Bool in
            let wasActive = device.state == .active
            let attached = wasActive ? device : try activate(device.id, readOnly: readOnly || device.readOnly)
            do throws(StorageError) {
                try Mounter.mount(attached.path, at: target, type: config.filesystem.rawValue, readOnly: readOnly,
                                  options: config.filesystem.mountOptions(readOnly: readOnly))
            } catch {
                if !wasActive { try? deactivate(device.id) }
                throw error
            }
            return wasActive
        }
    }

    /// Drops one host mount of the snapshot; the last one unmounts it.
    public func unmountFilesystem(_ key: String) throws(StorageError) {
        let record = try store.read { (txn) throws(StorageError) -> SnapshotRecord in try requireSnapshot(key, in: txn) }
        try mounts.release(record.id) { (target, keepAttached) throws(StorageError) in
            try Mounter.unmount(target)
            if !keepAttached { try deactivate(record.deviceID) }
        }
    }

    /// Mounts the snapshot for the duration of `body`; it is unmounted whatever happens.
    public func withMountedSnapshot<R>(_ key: String, _ body: (String) throws -> R) throws -> R {
        let directory = try mountFilesystem(key)
        do {
            let result = try body(directory)
            try unmountFilesystem(key)
            return result
        } catch {
            try? unmountFilesystem(key)
            throw error
        }
    }
}

import CLinux
import Glibc

/// Flushing mounted filesystems to their block device (FIFREEZE then FITHAW), so that a clone
/// or a detach of the device underneath sees a consistent filesystem.
public enum FilesystemFreeze {
    /// Freezes every mount of the filesystem on `devicePath`, runs `body`, and thaws them again.
    ///
    /// Callers hold the device's lock, so no other caller's freeze of this filesystem is in
    /// progress: a filesystem found frozen already was left so by a caller that died between its
    /// freeze and its thaw (or by an administrator). It is taken over, and thawed with the rest,
    /// instead of staying frozen for good (a frozen filesystem blocks its writers, and outlives
    /// its unmount, keeping the device attached).
    public static func whileFrozen<R>(devicePath: String, _ body: () throws(SystemCallError) -> R) throws(SystemCallError) -> R {
        var frozen: [(fd: Int32, mountPoint: String)] = []
        var frozenFilesystems = Set<UInt64>()
        defer {
            for entry in frozen {
                // A thaw can only fail if the filesystem is not frozen: nothing to undo then.
                _ = try? syscall("ioctl(\(entry.mountPoint), FITHAW)") { kbs_fithaw(entry.fd) }
                close(entry.fd)
            }
        }
        for mountPoint in try Mounts.mountPoints(ofDevice: devicePath) {
            let fd: Int32
            do throws(SystemCallError) {
                fd = try syscall("open(\(mountPoint))") { open(mountPoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
            } catch where error.errno == .noSuchFile {
                continue  // unmounted meanwhile
            }
            let filesystem = try? Files.status(mountPoint)?.device
            do throws(SystemCallError) {
                do throws(SystemCallError) {
                    try syscall("ioctl(\(mountPoint), FIFREEZE)") { kbs_fifreeze(fd) }
                } catch where error.errno == .busy && !(filesystem.map { frozenFilesystems.contains($0) } ?? true) {
                    try syscall("ioctl(\(mountPoint), FITHAW)") { kbs_fithaw(fd) }
                    try syscall("ioctl(\(mountPoint), FIFREEZE)") { kbs_fifreeze(fd) }
                }
                frozen.append((fd, mountPoint))
                if let filesystem { frozenFilesystems.insert(filesystem) }
            } catch where error.errno == .busy {
                close(fd)  // frozen by this call through another mount of the same filesystem
            } catch {
                close(fd)
                throw error
            }
        }
        return try body()
    }

    /// Thaws the filesystem mounted at `mountPoint` if a caller that died left it frozen (see
    /// `whileFrozen`); callers hold the device's lock. Not frozen: nothing to do.
    public static func thawLeftover(mountPoint: String) throws(SystemCallError) {
        try FileDescriptor.withOpened(mountPoint, .directory) { (fd) throws(SystemCallError) in
            let raw = fd.raw
            do throws(SystemCallError) {
                try syscall("ioctl(\(mountPoint), FITHAW)") { kbs_fithaw(raw) }
            } catch where error.errno == .invalid {
                return  // not frozen
            }
        }
    }

    /// Writes everything the filesystem mounted on `devicePath` holds to the device.
    public static func flush(devicePath: String) throws(SystemCallError) {
        try whileFrozen(devicePath: devicePath) { () throws(SystemCallError) in }
    }
}

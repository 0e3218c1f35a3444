import CLinux
import Glibc

/// Flushing mounted filesystems to their block device (FIFREEZE then FITHAW), so that a clone
/// or a detach of the device underneath sees a consistent filesystem.
public enum FilesystemFreeze {
    /// Freezes every mount of the filesystem on `devicePath`, runs `body`, and thaws them again.
    public static func whileFrozen<R>(devicePath: String, _ body: () throws(SystemCallError) -> R) throws(SystemCallError) -> R {
        var frozen: [(fd: Int32, mountPoint: String)] = []
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
            do throws(SystemCallError) {
                try syscall("ioctl(\(mountPoint), FIFREEZE)") { kbs_fifreeze(fd) }
                frozen.append((fd, mountPoint))
            } catch where error.errno == .busy {
                close(fd)  // already frozen through another mount of the same filesystem
            } catch {
                close(fd)
                throw error
            }
        }
        return try body()
    }

    /// Writes everything the filesystem mounted on `devicePath` holds to the device.
    public static func flush(devicePath: String) throws(SystemCallError) {
        try whileFrozen(devicePath: devicePath) { () throws(SystemCallError) in }
    }
}

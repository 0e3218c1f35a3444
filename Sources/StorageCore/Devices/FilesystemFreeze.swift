import CLinux
import Glibc

/// Flushing mounted filesystems to their block device (FIFREEZE then FITHAW), so that a clone or
/// a detach of the device underneath sees a consistent filesystem.
enum FilesystemFreeze {
    /// Freezes every mount of the filesystem on `devicePath`, runs `body`, and thaws them.
    static func whileFrozen<R>(devicePath: String, _ body: () throws(StorageError) -> R) throws(StorageError) -> R {
        var frozen: [Int32] = []
        defer {
            for fd in frozen {
                _ = kbs_fithaw(fd)
                close(fd)
            }
        }
        for mountPoint in Mounter.mountPoints(ofDevice: devicePath) {
            guard let fd = try? syscall("open(\(mountPoint))", { open(mountPoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }) else {
                continue  // unmounted meanwhile
            }
            do throws(SystemCallError) {
                try syscall("ioctl(\(mountPoint), FIFREEZE)") { kbs_fifreeze(fd) }
                frozen.append(fd)
            } catch where error.errno == EBUSY {
                close(fd)  // already frozen through another mount of the same filesystem
            } catch {
                close(fd)
                throw error.storageError("cannot freeze the filesystem at \(mountPoint) to flush it")
            }
        }
        return try body()
    }

    /// Writes everything the mounted filesystem on `devicePath` holds to the device.
    static func flush(devicePath: String) throws(StorageError) {
        try whileFrozen(devicePath: devicePath) { () throws(StorageError) in }
    }
}

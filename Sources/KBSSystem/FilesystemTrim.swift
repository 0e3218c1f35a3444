import CLinux
import Glibc

/// Giving a filesystem's free space back to the device underneath (FITRIM): a filesystem on a
/// loop device over a sparse file punches its free extents out of that file, so the host gets
/// the space back.
public enum FilesystemTrim {
    /// Discards the free extents of the filesystem mounted at `mountPoint`; returns the bytes the
    /// filesystem reports as discarded (extents discarded before count again: it keeps no record).
    public static func trim(mountPoint: String) throws(SystemCallError) -> UInt64 {
        try FileDescriptor.withOpened(mountPoint, .readOnly) { (fd) throws(SystemCallError) -> UInt64 in
            var trimmed: UInt64 = 0
            let raw = fd.raw
            try syscall("ioctl(\(mountPoint), FITRIM)") { kbs_fitrim(raw, 0, &trimmed) }
            return trimmed
        }
    }
}

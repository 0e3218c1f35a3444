import CLinux
import Glibc

/// Copy-on-write file clones (FICLONE) and extent sharing (FIEMAP).
enum Reflink {
    /// Makes `destination` a new file sharing every extent of `source`. Never copies data.
    static func clone(_ source: String, to destination: String) throws(StorageError) {
        try FileDescriptor.withOpened(source, O_RDONLY) { (src) throws(StorageError) in
            try FileDescriptor.withOpened(destination, O_WRONLY | O_CREAT | O_EXCL) { (dst) throws(StorageError) in
                do throws(SystemCallError) {
                    try syscall("ioctl(FICLONE, \(source) -> \(destination))") { kbs_ficlone(dst.raw, src.raw) }
                } catch {
                    unlink(destination)
                    if error.errno == ENOSPC {
                        throw StorageError(.noSpace, "the pool is out of space cloning \(source); remove snapshots or grow the pool", cause: error)
                    }
                    throw error.storageError("cannot reflink \(source) to \(destination); the pool filesystem must support reflink")
                }
            }
        }
    }

    /// Whether files in `directory` can be reflinked (XFS with reflink=1, btrfs; not ext4).
    static func isSupported(in directory: String) -> Bool {
        let a = "\(directory)/.reflink-probe-a"
        let b = "\(directory)/.reflink-probe-b"
        unlink(a)
        unlink(b)
        defer {
            unlink(a)
            unlink(b)
        }
        let fd = open(a, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        let block = [UInt8](repeating: 0x5a, count: 4096)
        let written = block.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == 4096 else { return false }
        return (try? clone(a, to: b)) != nil
    }

    /// Bytes of `path` held by it alone and bytes shared with clones.
    static func extentUsage(_ path: String) throws(StorageError) -> DeviceUsage {
        try FileDescriptor.withOpened(path, O_RDONLY) { (fd) throws(StorageError) -> DeviceUsage in
            var usage = kbs_extent_usage()
            try systemCall("ioctl(FS_IOC_FIEMAP, \(path))", "cannot read the extents of \(path)") {
                kbs_fiemap_usage(fd.raw, &usage)
            }
            return DeviceUsage(exclusiveBytes: Int64(usage.exclusive_bytes), sharedBytes: Int64(usage.shared_bytes))
        }
    }
}

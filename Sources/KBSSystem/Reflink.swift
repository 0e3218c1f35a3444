import CLinux
import Glibc

/// Copy-on-write file clones (FICLONE) and the extents files map (FIEMAP).
public enum Reflink {
    /// Makes `destination` a new file sharing every extent of `source`. Never copies data; a
    /// destination left by a failed clone is removed.
    public static func clone(_ source: String, to destination: String) throws(SystemCallError) {
        try FileDescriptor.withOpened(source, .readOnly) { (src) throws(SystemCallError) in
            try FileDescriptor.withOpened(destination, FileDescriptor.Access.writeOnly.creatingNew) { (dst) throws(SystemCallError) in
                do throws(SystemCallError) {
                    try syscall("ioctl(FICLONE, \(source) -> \(destination))") { kbs_ficlone(dst.raw, src.raw) }
                } catch {
                    _ = try? Files.remove(destination)
                    throw error
                }
            }
        }
    }

    /// Whether files in `directory` can be reflinked (XFS with reflink=1, btrfs; not ext4).
    public static func isSupported(in directory: String) throws(SystemCallError) -> Bool {
        let a = "\(directory)/.reflink-probe-a"
        let b = "\(directory)/.reflink-probe-b"
        try Files.remove(a)
        try Files.remove(b)
        defer {
            _ = try? Files.remove(a)
            _ = try? Files.remove(b)
        }
        try FileDescriptor.withOpened(a, FileDescriptor.Access.writeOnly.creatingNew) { (fd) throws(SystemCallError) in
            try fd.write([UInt8](repeating: 0x5a, count: 4096), at: 0)
        }
        do throws(SystemCallError) {
            try clone(a, to: b)
            return true
        } catch {
            return false  // EOPNOTSUPP (ext4, tmpfs), EXDEV (overlayfs), EINVAL: no reflink here
        }
    }

    /// One mapped range of a file: `length` bytes at `logical` stored at `physical` on the disk.
    public struct Extent: Equatable, Sendable {
        public var logical: UInt64
        public var physical: UInt64
        public var length: UInt64
        public var shared: Bool

        public init(logical: UInt64, physical: UInt64, length: UInt64, shared: Bool) {
            self.logical = logical
            self.physical = physical
            self.length = length
            self.shared = shared
        }
    }

    /// The file's mapped extents in logical order, after flushing its dirty pages.
    public static func extents(_ path: String) throws(SystemCallError) -> [Extent] {
        try FileDescriptor.withOpened(path, .readOnly) { (fd) throws(SystemCallError) -> [Extent] in
            var capacity: UInt32 = 1024
            while true {
                var buffer = [kbs_extent](repeating: kbs_extent(), count: Int(capacity))
                var count: UInt32 = 0
                try syscall("ioctl(FS_IOC_FIEMAP, \(path))") {
                    buffer.withUnsafeMutableBufferPointer { kbs_fiemap_read(fd.raw, $0.baseAddress, capacity, &count) }
                }
                if count <= capacity {
                    return buffer.prefix(Int(count)).map {
                        Extent(logical: $0.logical, physical: $0.physical, length: $0.length,
                               shared: $0.flags & KBS_FIEMAP_EXTENT_SHARED != 0)
                    }
                }
                capacity = count + 64
            }
        }
    }
}

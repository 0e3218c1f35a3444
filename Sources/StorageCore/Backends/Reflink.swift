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
        let block = [UInt8](repeating: 0x5a, count: 4096)
        let written = try? FileDescriptor.withOpened(a, O_WRONLY | O_CREAT | O_EXCL) { (fd) throws(StorageError) -> Int in
            try systemCall("write(\(a))", "cannot write the reflink probe") {
                block.withUnsafeBytes { write(fd.raw, $0.baseAddress, $0.count) }
            }
        }
        guard written == block.count else { return false }
        return (try? clone(a, to: b)) != nil
    }

    /// One mapped range of a file: `length` bytes at `logical` stored at `physical` on the disk.
    struct Extent: Equatable {
        var logical: UInt64
        var physical: UInt64
        var length: UInt64
        var shared: Bool
    }

    /// The file's mapped extents in logical order, after flushing its dirty pages.
    static func extents(_ path: String) throws(StorageError) -> [Extent] {
        try FileDescriptor.withOpened(path, O_RDONLY) { (fd) throws(StorageError) -> [Extent] in
            var capacity: UInt32 = 1024
            while true {
                var buffer = [kbs_extent](repeating: kbs_extent(), count: Int(capacity))
                var count: UInt32 = 0
                try systemCall("ioctl(FS_IOC_FIEMAP, \(path))", "cannot read the extents of \(path)") {
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

    /// Bytes of `path` stored differently from `base` at the same offsets (written since it was
    /// cloned from `base`), and bytes still shared with `base`. Without a base: bytes not shared with any file.
    static func usage(_ path: String, comparedTo base: String?) throws(StorageError) -> DeviceUsage {
        let mine = try extents(path)
        guard let base else {
            let shared = mine.filter(\.shared).reduce(0) { $0 + $1.length }
            let total = mine.reduce(0) { $0 + $1.length }
            return DeviceUsage(exclusiveBytes: Int64(total - shared), sharedBytes: Int64(shared))
        }
        let theirs = try extents(base)
        var same: UInt64 = 0
        var j = 0
        for e in mine {
            // Skip base extents that end before this one starts; both lists are in logical order.
            while j < theirs.count, theirs[j].logical + theirs[j].length <= e.logical { j += 1 }
            var k = j
            while k < theirs.count, theirs[k].logical < e.logical + e.length {
                let b = theirs[k]
                if b.physical &- b.logical == e.physical &- e.logical {
                    let start = max(b.logical, e.logical)
                    let end = min(b.logical + b.length, e.logical + e.length)
                    if end > start { same += end - start }
                }
                k += 1
            }
        }
        let total = mine.reduce(0) { $0 + $1.length }
        return DeviceUsage(exclusiveBytes: Int64(total - same), sharedBytes: Int64(same))
    }
}

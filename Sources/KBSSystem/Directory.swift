import CLinux
import Glibc

/// An open directory, and the calls that work on the entries in it by name (the `*at` calls):
/// nothing here follows a symbolic link in an entry's own name, and paths given to the
/// `beneath` calls resolve as if this directory were the root (`openat2` with RESOLVE_IN_ROOT),
/// so no name, `..` or symbolic link in them reaches outside it.
public final class Directory {
    public let raw: Int32

    private init(raw: Int32) { self.raw = raw }

    deinit { Glibc.close(raw) }

    /// Opens the directory at `path`.
    public static func open(_ path: String) throws(SystemCallError) -> Directory {
        Directory(raw: try syscall("open(\(path), O_DIRECTORY)") { Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) })
    }

    private static let resolveBeneath = KBS_RESOLVE_IN_ROOT | KBS_RESOLVE_NO_MAGICLINKS | KBS_RESOLVE_NO_XDEV

    /// Opens the directory `relative` resolves to beneath this one (taken as the root); "" is
    /// this directory itself.
    public func directory(beneath relative: String) throws(SystemCallError) -> Directory {
        let path = relative.isEmpty ? "." : relative
        return Directory(raw: try syscall("openat2(\(path), O_DIRECTORY, RESOLVE_IN_ROOT)") {
            kbs_openat2(raw, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, Self.resolveBeneath)
        })
    }

    /// The entry `relative` names beneath this directory (taken as the root), itself: a final
    /// symbolic link is not followed. An `O_PATH` descriptor, for `makeHardLink`.
    public func entry(beneath relative: String) throws(SystemCallError) -> Directory {
        Directory(raw: try syscall("openat2(\(relative), O_PATH|O_NOFOLLOW, RESOLVE_IN_ROOT)") {
            kbs_openat2(raw, relative, KBS_O_PATH | O_NOFOLLOW | O_CLOEXEC, 0, Self.resolveBeneath)
        })
    }

    /// The subdirectory `name` of this one, not following a symbolic link.
    public func subdirectory(_ name: String) throws(SystemCallError) -> Directory {
        Directory(raw: try syscall("openat(\(name), O_DIRECTORY|O_NOFOLLOW)") {
            openat(raw, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        })
    }

    /// What an entry is, nil when there is none by that name.
    public enum EntryKind: Sendable, Equatable { case directory, regular, symbolicLink, other }

    public func kind(of name: String) throws(SystemCallError) -> EntryKind? { try metadata(of: name)?.kind }

    /// The names in this directory, without "." and "..".
    public func names() throws(SystemCallError) -> [String] {
        let copy = try syscall("dup(fd \(raw))") { dup(raw) }
        guard let stream = fdopendir(copy) else {
            let err = Glibc.errno
            Glibc.close(copy)
            throw SystemCallError(operation: "fdopendir(fd \(raw))", errno: Errno(rawValue: err))
        }
        defer { closedir(stream) }
        rewinddir(stream)
        var result: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { result.append(name) }
        }
        return result
    }

    public func makeDirectory(_ name: String, mode: UInt32) throws(SystemCallError) {
        try syscall("mkdirat(\(name))") { mkdirat(raw, name, mode_t(mode)) }
    }

    /// Creates the regular file `name` (which must not exist), open for writing.
    public func createFile(_ name: String, mode: UInt32) throws(SystemCallError) -> FileDescriptor {
        let fd = try syscall("openat(\(name), O_CREAT|O_EXCL)") {
            openat(raw, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode_t(mode))
        }
        return FileDescriptor(raw: fd)
    }

    public func makeSymbolicLink(_ name: String, to target: String) throws(SystemCallError) {
        try syscall("symlinkat(\(name))") { symlinkat(target, raw, name) }
    }

    public enum NodeKind: Sendable { case characterDevice, blockDevice, fifo }

    /// A device node or FIFO with `permissions`.
    public func makeNode(_ name: String, _ kind: NodeKind, permissions: UInt32, major: UInt32, minor: UInt32) throws(SystemCallError) {
        let type: mode_t = switch kind {
        case .characterDevice: S_IFCHR
        case .blockDevice: S_IFBLK
        case .fifo: S_IFIFO
        }
        try syscall("mknodat(\(name))") { mknodat(raw, name, type | mode_t(permissions), kbs_makedev(major, minor)) }
    }

    /// A new name `name` here for the entry `target` (from `entry(beneath:)`).
    public func makeHardLink(_ name: String, to target: Directory) throws(SystemCallError) {
        try syscall("linkat(\(name))") { linkat(target.raw, "", raw, name, KBS_AT_EMPTY_PATH) }
    }

    /// Removes the entry `name`, a directory with everything in it; a directory holding another
    /// filesystem's mount point is refused (EBUSY). Nothing is followed.
    public func removeEntry(_ name: String) throws(SystemCallError) {
        guard let kind = try kind(of: name) else { return }
        if kind == .directory {
            let child = try subdirectory(name)
            for entry in try child.names() { try child.removeEntry(entry) }
            try syscall("unlinkat(\(name), AT_REMOVEDIR)") { unlinkat(raw, name, AT_REMOVEDIR) }
        } else {
            try syscall("unlinkat(\(name))") { unlinkat(raw, name, 0) }
        }
    }

    /// Sets the owner of `name` itself (a symbolic link's own owner).
    public func setOwner(_ name: String, uid: UInt32, gid: UInt32) throws(SystemCallError) {
        try syscall("fchownat(\(name))") { fchownat(raw, name, uid, gid, AT_SYMLINK_NOFOLLOW) }
    }

    /// Sets the mode of `name`, which must not be a symbolic link (Linux has no mode for them).
    public func setMode(_ name: String, _ mode: UInt32) throws(SystemCallError) {
        try syscall("fchmodat(\(name))") { fchmodat(raw, name, mode_t(mode), 0) }
    }

    /// Sets the access and modification times of `name` itself, in nanoseconds since the epoch.
    public func setTimes(_ name: String, accessed: Int64, modified: Int64) throws(SystemCallError) {
        var times = [timespec(tv_sec: Int(accessed / 1_000_000_000), tv_nsec: Int(accessed % 1_000_000_000)),
                     timespec(tv_sec: Int(modified / 1_000_000_000), tv_nsec: Int(modified % 1_000_000_000))]
        try syscall("utimensat(\(name))") { utimensat(raw, name, &times, AT_SYMLINK_NOFOLLOW) }
    }

    /// Sets the extended attribute `key` of `name` itself.
    public func setAttribute(_ name: String, key: String, value: [UInt8]) throws(SystemCallError) {
        // The descriptor's /proc link reaches this directory; the last name is not followed.
        let path = "/proc/self/fd/\(raw)/\(name)"
        try syscall("lsetxattr(\(name), \(key))") { value.withUnsafeBytes { lsetxattr(path, key, $0.baseAddress, $0.count, 0) } }
    }

    /// The extended attribute `key` of `name` itself, nil when it has none.
    public func attribute(_ name: String, key: String) throws(SystemCallError) -> [UInt8]? {
        let path = "/proc/self/fd/\(raw)/\(name)"
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        do throws(SystemCallError) {
            let n = try syscall("lgetxattr(\(name), \(key))") { buffer.withUnsafeMutableBytes { lgetxattr(path, key, $0.baseAddress, $0.count) } }
            return Array(buffer.prefix(n))
        } catch where error.errno == .noData {
            return nil
        }
    }

    /// An entry's own metadata (`fstatat` without following it).
    public struct Metadata: Sendable, Equatable {
        public var kind: EntryKind
        /// The type bits: S_IFREG and the others.
        public var type: UInt32
        public var permissions: UInt32
        public var uid: UInt32
        public var gid: UInt32
        public var size: Int64
        /// Nanoseconds since the epoch.
        public var modified: Int64
        public var deviceMajor: UInt32
        public var deviceMinor: UInt32
        public var inode: UInt64
        public var links: UInt64

        public var isCharacterDevice: Bool { type == (S_IFCHR as mode_t) }
        public var isBlockDevice: Bool { type == (S_IFBLK as mode_t) }
        public var isFIFO: Bool { type == (S_IFIFO as mode_t) }
        public var isSocket: Bool { type == (S_IFSOCK as mode_t) }
    }

    public func metadata(of name: String) throws(SystemCallError) -> Metadata? {
        var st = stat()
        do throws(SystemCallError) {
            try syscall("fstatat(\(name))") { fstatat(raw, name, &st, AT_SYMLINK_NOFOLLOW) }
        } catch where error.errno == .noSuchFile {
            return nil
        }
        let type = st.st_mode & S_IFMT
        let kind: EntryKind = switch type {
        case S_IFDIR: .directory
        case S_IFREG: .regular
        case S_IFLNK: .symbolicLink
        default: .other
        }
        return Metadata(kind: kind, type: UInt32(type), permissions: UInt32(st.st_mode & 0o7777), uid: st.st_uid, gid: st.st_gid,
                        size: Int64(st.st_size), modified: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
                        deviceMajor: kbs_major(st.st_rdev), deviceMinor: kbs_minor(st.st_rdev), inode: UInt64(st.st_ino),
                        links: UInt64(st.st_nlink))
    }

    /// A symbolic link's target.
    public func linkTarget(of name: String) throws(SystemCallError) -> String {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = try syscall("readlinkat(\(name))") { buffer.withUnsafeMutableBytes { readlinkat(raw, name, $0.baseAddress!, $0.count) } }
        return String(decoding: buffer.prefix(n), as: UTF8.self)
    }

    /// The names of `name`'s own extended attributes.
    public func attributeNames(of name: String) throws(SystemCallError) -> [String] {
        let path = "/proc/self/fd/\(raw)/\(name)"
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        let n = try syscall("llistxattr(\(name))") { buffer.withUnsafeMutableBytes { llistxattr(path, $0.baseAddress, $0.count) } }
        return buffer.prefix(n).split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Opens the regular file `name` for reading, not following a symbolic link.
    public func openFile(_ name: String) throws(SystemCallError) -> FileDescriptor {
        FileDescriptor(raw: try syscall("openat(\(name), O_RDONLY)") { openat(raw, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) })
    }
}

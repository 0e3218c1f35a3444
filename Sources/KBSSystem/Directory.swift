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

    /// What an entry is.
    public enum EntryKind: Sendable, Equatable {
        case directory, regular, symbolicLink, characterDevice, blockDevice, fifo, socket

        init(type: mode_t) {
            switch type {
            case S_IFDIR: self = .directory
            case S_IFLNK: self = .symbolicLink
            case S_IFCHR: self = .characterDevice
            case S_IFBLK: self = .blockDevice
            case S_IFIFO: self = .fifo
            case S_IFSOCK: self = .socket
            default: self = .regular
            }
        }
    }

    /// What the entry `name` is, nil when there is none by that name.
    public func kind(of name: String) throws(SystemCallError) -> EntryKind? { try metadata(of: name)?.kind }

    /// The names in this directory, without "." and "..".
    public func names() throws(SystemCallError) -> [String] {
        // A descriptor of its own for the stream (its own offset; close-on-exec, which dup drops).
        let copy = try syscall("openat(fd \(raw), .)") { openat(raw, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        let stream: OpaquePointer
        do throws(SystemCallError) {
            stream = try syscallPointer("fdopendir(fd \(raw))") { fdopendir(copy) }
        } catch {
            Glibc.close(copy)
            throw error
        }
        defer { closedir(stream) }  // closes the copy
        return Files.entries(of: stream).map(\.name)
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

    /// A device node or FIFO (`kind` is one of those) with `permissions`.
    public func makeNode(_ name: String, _ kind: EntryKind, permissions: UInt32, major: UInt32, minor: UInt32) throws(SystemCallError) {
        let type: mode_t
        switch kind {
        case .characterDevice: type = S_IFCHR
        case .blockDevice: type = S_IFBLK
        case .fifo: type = S_IFIFO
        default: throw SystemCallError(operation: "mknodat(\(name)) of a \(kind)", errno: .invalid)
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

    /// A path to the entry `name` itself that the `l*xattr` calls take: this descriptor's /proc
    /// link reaches the directory, and the last name is not followed.
    private func procPath(_ name: String) -> String { "/proc/self/fd/\(raw)/\(name)" }

    /// Sets the extended attribute `key` of `name` itself.
    public func setAttribute(_ name: String, key: String, value: [UInt8]) throws(SystemCallError) {
        let path = procPath(name)
        try syscall("lsetxattr(\(name), \(key))") { value.withUnsafeBytes { lsetxattr(path, key, $0.baseAddress, $0.count, 0) } }
    }

    /// The extended attribute `key` of `name` itself, nil when it has none.
    public func attribute(_ name: String, key: String) throws(SystemCallError) -> [UInt8]? {
        let path = procPath(name)
        do throws(SystemCallError) {
            return try Self.sized("lgetxattr(\(name), \(key))") { lgetxattr(path, key, $0, $1) }
        } catch where error.errno == .noData {
            return nil
        }
    }

    /// The names of `name`'s own extended attributes.
    public func attributeNames(of name: String) throws(SystemCallError) -> [String] {
        let path = procPath(name)
        let list = try Self.sized("llistxattr(\(name))") { llistxattr(path, $0, $1) }
        return list.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The bytes of a call that reports the size it needs when given none (the xattr calls):
    /// asked for the size first, so that an entry without attributes costs no buffer; asked
    /// again if the value grew in between (ERANGE).
    private static func sized(_ operation: @autoclosure () -> String, _ call: (UnsafeMutableRawPointer?, Int) -> Int) throws(SystemCallError) -> [UInt8] {
        while true {
            let size = try syscall(operation()) { call(nil, 0) }
            if size == 0 { return [] }
            var buffer = [UInt8](repeating: 0, count: size)
            do throws(SystemCallError) {
                let n = try syscall(operation()) { buffer.withUnsafeMutableBytes { call($0.baseAddress, $0.count) } }
                return Array(buffer.prefix(n))
            } catch where error.errno == Errno(rawValue: ERANGE) {
                continue
            }
        }
    }

    /// An entry's own metadata (`fstatat` without following it).
    public struct Metadata: Sendable, Equatable {
        public var kind: EntryKind
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

    }

    public func metadata(of name: String) throws(SystemCallError) -> Metadata? {
        var st = stat()
        do throws(SystemCallError) {
            try syscall("fstatat(\(name))") { fstatat(raw, name, &st, AT_SYMLINK_NOFOLLOW) }
        } catch where error.errno == .noSuchFile {
            return nil
        }
        return Metadata(kind: EntryKind(type: st.st_mode & S_IFMT), permissions: UInt32(st.st_mode & 0o7777), uid: st.st_uid, gid: st.st_gid,
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

    /// Opens the regular file `name` for reading, not following a symbolic link.
    public func openFile(_ name: String) throws(SystemCallError) -> FileDescriptor {
        FileDescriptor(raw: try syscall("openat(\(name), O_RDONLY)") { openat(raw, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) })
    }
}

import CLinux
import Glibc

/// Files and directories: the generic helpers every part of the engine uses.
public enum Files {
    /// Creates `path` and any missing parents (mode 0700); existing directories are fine.
    public static func makeDirectory(_ path: String) throws(SystemCallError) {
        var partial = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            partial += "/\(component)"
            do throws(SystemCallError) {
                try syscall("mkdir(\(partial))") { mkdir(partial, 0o700) }
            } catch where error.errno == .exists {
                continue
            }
        }
    }

    /// Creates a sparse file of `size` bytes, or grows an existing one to it (never shrinks).
    public static func sizeFile(_ path: String, to size: UInt64, creating: Bool) throws(SystemCallError) {
        try FileDescriptor.withOpened(path, creating ? FileDescriptor.Access.readWrite.creatingNew : .readWrite) {
            (fd) throws(SystemCallError) in
            if try fd.size() < size { try fd.truncate(to: size) }
        }
    }

    /// Removes a file; returns false when there was none.
    @discardableResult
    public static func remove(_ path: String) throws(SystemCallError) -> Bool {
        do throws(SystemCallError) {
            try syscall("unlink(\(path))") { unlink(path) }
            return true
        } catch where error.errno == .noSuchFile {
            return false
        }
    }

    /// Removes an empty directory; returns false when there was none.
    @discardableResult
    public static func removeDirectory(_ path: String) throws(SystemCallError) -> Bool {
        do throws(SystemCallError) {
            try syscall("rmdir(\(path))") { rmdir(path) }
            return true
        } catch where error.errno == .noSuchFile {
            return false
        }
    }

    /// Removes a directory tree, never crossing into another mounted filesystem (a mount inside
    /// it is left in place, and so is the directory holding it).
    public static func removeTree(_ path: String) throws(SystemCallError) {
        guard let root = try status(path, followingLinks: false) else { return }
        try removeTree(path, device: root.device)
    }

    private static func removeTree(_ path: String, device: UInt64) throws(SystemCallError) {
        guard let st = try status(path, followingLinks: false), st.device == device else { return }
        guard st.isDirectory else {
            try remove(path)
            return
        }
        for entry in try directoryEntries(path) { try removeTree("\(path)/\(entry.name)", device: device) }
        do throws(SystemCallError) {
            try removeDirectory(path)
        } catch where error.errno == .notEmpty || error.errno == .busy {
            return  // holds another filesystem's mount point
        }
    }

    /// What `stat` says of a path.
    public struct Status: Sendable, Equatable {
        public var device: UInt64
        public var isDirectory: Bool
        public var isBlockDevice: Bool
        public var isSocket: Bool
        /// For block devices: "major:minor".
        public var deviceNumber: String?
        public var size: Int64
        /// Bytes the file occupies on its filesystem (holes take none).
        public var allocatedBytes: Int64
        /// Last modification, in nanoseconds since the epoch.
        public var modified: Int64
    }

    /// `stat` (or `lstat`) of `path`, nil when it does not exist.
    public static func status(_ path: String, followingLinks: Bool = true) throws(SystemCallError) -> Status? {
        var st = stat()
        do throws(SystemCallError) {
            if followingLinks {
                try syscall("stat(\(path))") { stat(path, &st) }
            } else {
                try syscall("lstat(\(path))") { lstat(path, &st) }
            }
        } catch where error.errno == .noSuchFile || error.errno == .notDirectory {
            return nil
        }
        let type = st.st_mode & S_IFMT
        return Status(device: UInt64(st.st_dev), isDirectory: type == S_IFDIR, isBlockDevice: type == S_IFBLK,
                      isSocket: type == S_IFSOCK,
                      deviceNumber: type == S_IFBLK ? "\(kbs_major(st.st_rdev)):\(kbs_minor(st.st_rdev))" : nil,
                      size: Int64(st.st_size), allocatedBytes: Int64(st.st_blocks) * 512,
                      modified: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec))
    }

    /// Creates `path` empty if it is missing and sets its modification time to now.
    public static func touch(_ path: String) throws(SystemCallError) {
        let fd = try syscall("open(\(path))") { open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600) }
        defer { close(fd) }
        try syscall("futimens(\(path))") { futimens(fd, nil) }
    }

    /// Renames `from` to `to` (replacing it); false when `from` did not exist.
    @discardableResult
    public static func rename(_ from: String, to: String) throws(SystemCallError) -> Bool {
        do throws(SystemCallError) {
            try syscall("rename(\(from), \(to))") { Glibc.rename(from, to) }
            return true
        } catch where error.errno == .noSuchFile {
            return false
        }
    }

    /// Whether `path` exists.
    public static func exists(_ path: String) throws(SystemCallError) -> Bool { try status(path) != nil }

    /// The whole of a small file (sysfs, procfs).
    public static func read(_ path: String) throws(SystemCallError) -> String {
        try FileDescriptor.withOpened(path, .readOnly) { (fd) throws(SystemCallError) -> String in
            String(decoding: try fd.readAll(), as: UTF8.self)
        }
    }

    /// `read`, or nil when the file does not exist (a device that went away, a process that ended).
    public static func readIfPresent(_ path: String) throws(SystemCallError) -> String? {
        do throws(SystemCallError) {
            return try read(path)
        } catch where error.errno == .noSuchFile || error.errno == .noSuchDevice || error.errno == .noSuchDeviceOrAddress
                    || error.errno == .noSuchProcess {
            return nil
        }
    }

    /// Names and types in a directory, without "." and "..".
    ///
    /// `dirent` records are variable length: the name is read through a pointer, never by copying
    /// the struct, so the last record of a buffer is not read past its end.
    public static func directoryEntries(_ path: String) throws(SystemCallError) -> [(name: String, isDirectory: Bool)] {
        let dir = try syscallPointer("opendir(\(path))") { opendir(path) }
        defer { closedir(dir) }
        return entries(of: dir)
    }

    /// The entries of an open directory stream, from its start.
    static func entries(of dir: OpaquePointer) -> [(name: String, isDirectory: Bool)] {
        rewinddir(dir)
        let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        let typeOffset = MemoryLayout<dirent>.offset(of: \dirent.d_type)!
        var result: [(String, Bool)] = []
        while let entry = readdir(dir) {
            let raw = UnsafeRawPointer(entry)
            let name = String(cString: raw.advanced(by: nameOffset).assumingMemoryBound(to: CChar.self))
            if name == "." || name == ".." { continue }
            result.append((name, raw.load(fromByteOffset: typeOffset, as: UInt8.self) == UInt8(DT_DIR)))
        }
        return result
    }

    /// Space of the filesystem holding `path`.
    public struct Space: Sendable, Equatable {
        public var totalBytes: Int64
        public var freeBytes: Int64
        public var totalInodes: Int64
        public var freeInodes: Int64
    }

    public static func space(_ path: String) throws(SystemCallError) -> Space {
        var fs = statvfs()
        try syscall("statvfs(\(path))") { statvfs(path, &fs) }
        let block = Int64(fs.f_frsize)
        return Space(totalBytes: Int64(fs.f_blocks) * block, freeBytes: Int64(fs.f_bfree) * block,
                     totalInodes: Int64(fs.f_files), freeInodes: Int64(fs.f_ffree))
    }

    /// The canonical absolute path of an existing file or directory.
    public static func canonicalPath(_ path: String) throws(SystemCallError) -> String {
        let resolved = try syscallPointer("realpath(\(path))") { realpath(path, nil) }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Sets the mode bits new files and sockets of this process start without (umask).
    public static func setCreationMask(_ mask: UInt32) { _ = umask(mode_t(mask)) }
}

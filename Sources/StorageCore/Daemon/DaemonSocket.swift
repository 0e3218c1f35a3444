import Glibc

/// A daemon's unix socket file: one live daemon per path, stale files from dead ones replaced.
public enum DaemonSocket {
    /// Makes `path` free to bind: refuses if a daemon answers there, removes a dead daemon's socket.
    public static func claim(_ path: String) throws(StorageError) {
        guard path.utf8.count < 108 else {
            throw StorageError(.invalidArgument, "socket path \(path) is longer than the 107 bytes a unix socket allows")
        }
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            try ReflinkFilePool.makeDirectory(String(path[..<slash]))
        }
        var st = stat()
        do throws(SystemCallError) {
            try syscall("lstat(\(path))") { lstat(path, &st) }
        } catch where error.errno == ENOENT {
            return
        } catch {
            throw error.storageError("cannot inspect \(path)")
        }
        guard (st.st_mode & S_IFMT) == S_IFSOCK else {
            throw StorageError(.alreadyExists, "\(path) exists and is not a socket; remove it or choose another --socket")
        }
        if try isLive(path) {
            throw StorageError(.alreadyExists, "a daemon is already serving on \(path); stop it first or choose another --socket")
        }
        try systemCall("unlink(\(path))", "cannot remove the stale socket \(path)") { unlink(path) }
    }

    /// Owner-only access (0600); the daemon runs as root, so only root can call it.
    public static func restrictToOwner(_ path: String) throws(StorageError) {
        try systemCall("chmod(\(path))", "cannot restrict \(path) to its owner") { chmod(path, 0o600) }
    }

    /// Removes the socket file when the daemon stops.
    public static func release(_ path: String) { unlink(path) }

    /// Whether something accepts connections on the socket at `path`.
    private static func isLive(_ path: String) throws(StorageError) -> Bool {
        let fd = try systemCall("socket(AF_UNIX)", "cannot create a socket to probe \(path)") {
            socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8.prefix(raw.count - 1)))
        }
        let length = socklen_t(MemoryLayout<sockaddr_un>.size)
        do throws(SystemCallError) {
            try syscall("connect(\(path))") {
                withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) } }
            }
            return true
        } catch where error.errno == ECONNREFUSED || error.errno == ENOENT {
            return false
        } catch {
            throw error.storageError("cannot probe \(path)")
        }
    }
}

import Glibc
import StorageCore

/// The daemon's unix socket file: one live daemon per path, stale files from dead ones replaced.
enum SocketPath {
    /// Makes `path` free to bind: refuses if a daemon answers there, removes a dead daemon's socket.
    static func claim(_ path: String) throws(StorageError) {
        guard path.utf8.count < 108 else {
            throw StorageError(.invalidArgument, "socket path \(path) is longer than the 107 bytes a unix socket allows")
        }
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        if !directory.isEmpty { mkdir(directory, 0o700) }
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard (st.st_mode & S_IFMT) == S_IFSOCK else {
            throw StorageError(.alreadyExists, "\(path) exists and is not a socket; remove it or choose another --socket")
        }
        if isLive(path) {
            throw StorageError(.alreadyExists, "a daemon is already serving on \(path); stop it first or choose another --socket")
        }
        unlink(path)
    }

    /// Owner-only access (0600); the daemon runs as root, so only root can call it.
    static func restrictToOwner(_ path: String) throws(StorageError) {
        guard chmod(path, 0o600) == 0 else {
            throw StorageError(.internal, "cannot restrict \(path) to its owner")
        }
    }

    static func release(_ path: String) { unlink(path) }

    /// Whether something accepts connections on the socket at `path`.
    private static func isLive(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
        }
        let length = socklen_t(MemoryLayout<sockaddr_un>.size)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) == 0 }
        }
    }
}

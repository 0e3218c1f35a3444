import Glibc

/// Why a daemon's socket path cannot be served.
public struct SocketClaimError: Error, CustomStringConvertible, Sendable {
    public enum Reason: Sendable {
        case pathTooLong
        case notASocket
        case daemonAlive
        case system(SystemCallError)
    }

    public let path: String
    public let reason: Reason

    public var description: String {
        switch reason {
        case .pathTooLong: "socket path \(path) is longer than the 107 bytes a unix socket allows"
        case .notASocket: "\(path) exists and is not a socket; remove it or choose another socket path"
        case .daemonAlive: "a daemon is already serving on \(path); stop it first or choose another socket path"
        case .system(let error): "cannot prepare socket \(path): \(error)"
        }
    }
}

/// A daemon's unix socket file: one live daemon per path, stale files of dead ones replaced.
public enum UnixSocket {
    /// Makes `path` free to bind: refuses while a daemon answers there, removes a dead daemon's socket.
    public static func claim(_ path: String) throws(SocketClaimError) {
        guard path.utf8.count < 108 else { throw SocketClaimError(path: path, reason: .pathTooLong) }
        func system<T>(_ body: () throws(SystemCallError) -> T) throws(SocketClaimError) -> T {
            do throws(SystemCallError) {
                return try body()
            } catch {
                throw SocketClaimError(path: path, reason: .system(error))
            }
        }
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            try system { () throws(SystemCallError) in try Files.makeDirectory(String(path[..<slash])) }
        }
        guard let status = try system({ () throws(SystemCallError) in try Files.status(path, followingLinks: false) }) else { return }
        guard status.isSocket else { throw SocketClaimError(path: path, reason: .notASocket) }
        if try system({ () throws(SystemCallError) in try isLive(path) }) { throw SocketClaimError(path: path, reason: .daemonAlive) }
        _ = try system { () throws(SystemCallError) in try Files.remove(path) }
    }

    /// Owner-only access (0600): the daemon runs as root, so only root can call it.
    public static func restrictToOwner(_ path: String) throws(SystemCallError) {
        try syscall("chmod(\(path))") { chmod(path, 0o600) }
    }

    /// Whether something accepts connections on the socket at `path`.
    public static func isLive(_ path: String) throws(SystemCallError) -> Bool {
        let fd = try syscall("socket(AF_UNIX)") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: Array(path.utf8.prefix(raw.count - 1))) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.size)
        do throws(SystemCallError) {
            try syscall("connect(\(path))") {
                withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) } }
            }
            return true
        } catch where error.errno == .connectionRefused || error.errno == .noSuchFile {
            return false
        }
    }
}

import Glibc

/// An errno value, compared by number and shown by name and text.
public struct Errno: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let noSuchFile = Errno(rawValue: ENOENT)
    public static let noSuchDevice = Errno(rawValue: ENODEV)
    public static let noSuchDeviceOrAddress = Errno(rawValue: ENXIO)
    public static let exists = Errno(rawValue: EEXIST)
    public static let busy = Errno(rawValue: EBUSY)
    public static let wouldBlock = Errno(rawValue: EWOULDBLOCK)
    public static let interrupted = Errno(rawValue: EINTR)
    public static let invalid = Errno(rawValue: EINVAL)
    public static let nameTooLong = Errno(rawValue: ENAMETOOLONG)
    public static let noSpace = Errno(rawValue: ENOSPC)
    public static let quotaExceeded = Errno(rawValue: EDQUOT)
    public static let fileTooLarge = Errno(rawValue: EFBIG)
    public static let notSupported = Errno(rawValue: EOPNOTSUPP)
    public static let notImplemented = Errno(rawValue: ENOSYS)
    public static let notTTY = Errno(rawValue: ENOTTY)
    public static let crossDevice = Errno(rawValue: EXDEV)
    public static let notPermitted = Errno(rawValue: EPERM)
    public static let accessDenied = Errno(rawValue: EACCES)
    public static let readOnlyFilesystem = Errno(rawValue: EROFS)
    public static let noData = Errno(rawValue: ENODATA)
    public static let notEmpty = Errno(rawValue: ENOTEMPTY)
    public static let notDirectory = Errno(rawValue: ENOTDIR)
    public static let connectionRefused = Errno(rawValue: ECONNREFUSED)
    public static let noChild = Errno(rawValue: ECHILD)
    public static let noSuchProcess = Errno(rawValue: ESRCH)
    public static let io = Errno(rawValue: EIO)

    public var description: String { "\(String(cString: strerror(rawValue))) (errno \(rawValue))" }
}

/// A failed system call: what was called on what, and the errno captured right after it.
public struct SystemCallError: Error, CustomStringConvertible, Sendable, Equatable {
    public let operation: String
    public let errno: Errno

    public init(operation: String, errno: Errno) {
        self.operation = operation
        self.errno = errno
    }

    public var description: String { "\(operation): \(errno)" }
}

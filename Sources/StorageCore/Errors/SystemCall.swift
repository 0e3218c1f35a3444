import Glibc

/// A failed system call: the operation, its subject and the errno captured at once.
public struct SystemCallError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let errno: Int32

    public var description: String {
        "\(operation): \(String(cString: strerror(errno))) (errno \(errno))"
    }

    /// The engine error for this errno, with a message saying what failed.
    func storageError(_ message: String) -> StorageError {
        let code: StorageError.Code
        switch errno {
        case ENOENT, ENXIO, ENODEV: code = .notFound
        case EEXIST: code = .alreadyExists
        case ENOSPC, EDQUOT, EFBIG: code = .noSpace
        case EBUSY: code = .busy
        case EINVAL, ENAMETOOLONG: code = .invalidArgument
        case EOPNOTSUPP, ENOSYS, ENOTTY, EXDEV, EPERM, EACCES, EROFS: code = .unavailable
        default: code = .internal
        }
        return StorageError(code, message, cause: self)
    }
}

/// The one funnel for libc calls that report failure as -1 and errno:
/// captures errno immediately, retries EINTR and throws a typed error naming the operation.
@discardableResult
func syscall<T: FixedWidthInteger>(_ operation: @autoclosure () -> String, _ body: () -> T) throws(SystemCallError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let err = Glibc.errno
        if err == EINTR { continue }
        throw SystemCallError(operation: operation(), errno: err)
    }
}

/// Same as `syscall` for calls returning a pointer that is NULL on failure.
func syscallPointer<T>(_ operation: @autoclosure () -> String, _ body: () -> T?) throws(SystemCallError) -> T {
    while true {
        if let result = body() { return result }
        let err = Glibc.errno
        if err == EINTR { continue }
        throw SystemCallError(operation: operation(), errno: err)
    }
}

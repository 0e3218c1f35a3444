import Glibc

/// The funnel every libc call of the project goes through: runs `body`, retries it on EINTR, and
/// turns a -1 result into a `SystemCallError` carrying the errno read immediately after the call.
@discardableResult
public func syscall<T: FixedWidthInteger>(_ operation: @autoclosure () -> String, _ body: () -> T) throws(SystemCallError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let err = Glibc.errno
        if err == EINTR { continue }
        throw SystemCallError(operation: operation(), errno: Errno(rawValue: err))
    }
}

/// `syscall` for calls that return a pointer, NULL on failure.
public func syscallPointer<T>(_ operation: @autoclosure () -> String, _ body: () -> T?) throws(SystemCallError) -> T {
    while true {
        if let result = body() { return result }
        let err = Glibc.errno
        if err == EINTR { continue }
        throw SystemCallError(operation: operation(), errno: Errno(rawValue: err))
    }
}

/// `syscall` for calls that return 0 or a positive errno (pthread style, posix_fadvise).
public func syscallReturningErrno(_ operation: @autoclosure () -> String, _ body: () -> Int32) throws(SystemCallError) {
    while true {
        let rc = body()
        if rc == 0 { return }
        if rc == EINTR { continue }
        throw SystemCallError(operation: operation(), errno: Errno(rawValue: rc))
    }
}

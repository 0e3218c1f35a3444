import Glibc

/// An open file descriptor, owned by the scope that opened it.
struct FileDescriptor: ~Copyable {
    let raw: Int32

    /// Opens `path`, runs `body`, and closes the descriptor whatever happens.
    static func withOpened<R>(
        _ path: String, _ flags: Int32, mode: mode_t = 0o600,
        _ body: (borrowing FileDescriptor) throws(StorageError) -> R
    ) throws(StorageError) -> R {
        let fd: Int32
        do {
            fd = try syscall("open(\(path))") { open(path, flags | O_CLOEXEC, mode) }
        } catch {
            throw error.storageError("cannot open \(path)")
        }
        let descriptor = FileDescriptor(raw: fd)
        defer { Glibc.close(fd) }
        return try body(descriptor)
    }
}

/// Runs a libc call through the funnel and turns its failure into a storage error with `message`.
@discardableResult
func systemCall<T: FixedWidthInteger>(
    _ operation: @autoclosure () -> String, _ message: @autoclosure () -> String, _ body: () -> T
) throws(StorageError) -> T {
    do {
        return try syscall(operation(), body)
    } catch {
        throw error.storageError(message())
    }
}

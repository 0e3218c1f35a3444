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

    /// Reads up to `count` bytes of `path` at `offset` (a device's superblock, an image's header).
    static func read(_ path: String, offset: Int64, count: Int) throws(StorageError) -> [UInt8] {
        try withOpened(path, O_RDONLY) { (fd) throws(StorageError) -> [UInt8] in
            var buffer = [UInt8](repeating: 0, count: count)
            let n = try systemCall("pread(\(path))", "cannot read \(path)") {
                buffer.withUnsafeMutableBytes { pread(fd.raw, $0.baseAddress, count, off_t(offset)) }
            }
            return Array(buffer.prefix(n))
        }
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

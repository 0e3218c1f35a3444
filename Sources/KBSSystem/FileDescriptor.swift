import CLinux
import Glibc

/// An open file descriptor owned by one scope; `close()` ends it, and a descriptor dropped
/// without being closed is a bug (caught in debug builds).
public struct FileDescriptor: ~Copyable {
    /// The descriptor number, for the ioctl shims in this module.
    let raw: Int32

    /// How a file is opened.
    public struct Access: Sendable {
        let flags: Int32
        public static let readOnly = Access(flags: O_RDONLY)
        public static let writeOnly = Access(flags: O_WRONLY)
        public static let readWrite = Access(flags: O_RDWR)
        /// A directory, for ioctls on the filesystem it belongs to.
        public static let directory = Access(flags: O_RDONLY | O_DIRECTORY)

        /// Creates the file, failing if it exists.
        public var creatingNew: Access { Access(flags: flags | O_CREAT | O_EXCL) }
        /// Creates the file if it does not exist.
        public var creating: Access { Access(flags: flags | O_CREAT) }
        /// Refuses a block device that is open elsewhere (mounted, held by device-mapper).
        public var exclusive: Access { Access(flags: flags | O_EXCL) }
    }

    init(raw: Int32) { self.raw = raw }

    /// Opens `path`; new files get `mode`.
    public static func open(_ path: String, _ access: Access, mode: mode_t = 0o600) throws(SystemCallError) -> FileDescriptor {
        FileDescriptor(raw: try syscall("open(\(path))") { Glibc.open(path, access.flags | O_CLOEXEC, mode) })
    }

    /// Closes the descriptor.
    public consuming func close() {
        Glibc.close(raw)
        discard self
    }

    deinit {
        assertionFailure("file descriptor \(raw) dropped without close()")
        Glibc.close(raw)
    }

    /// Opens `path`, runs `body` with it and closes it whatever happens. `mapError` turns a
    /// failed open into the caller's error type.
    public static func withOpened<R, E: Error>(
        _ path: String, _ access: Access, mode: mode_t = 0o600,
        mapError: (SystemCallError) -> E, _ body: (borrowing FileDescriptor) throws(E) -> R
    ) throws(E) -> R {
        let fd: FileDescriptor
        do throws(SystemCallError) {
            fd = try open(path, access, mode: mode)
        } catch {
            throw mapError(error)
        }
        do throws(E) {
            let result = try body(fd)
            fd.close()
            return result
        } catch {
            fd.close()
            throw error
        }
    }

    /// `withOpened` for bodies that fail only with system calls.
    public static func withOpened<R>(
        _ path: String, _ access: Access, mode: mode_t = 0o600, _ body: (borrowing FileDescriptor) throws(SystemCallError) -> R
    ) throws(SystemCallError) -> R {
        try withOpened(path, access, mode: mode, mapError: { $0 }, body)
    }

    /// Reads up to `count` bytes at `offset`.
    public func read(count: Int, at offset: Int64) throws(SystemCallError) -> [UInt8] {
        // One allocation, not zeroed first and not copied after: the array is what pread filled.
        var failure: SystemCallError?
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { (buffer, initialized) in
            do throws(SystemCallError) {
                initialized = try syscall("pread(fd \(raw))") { pread(raw, buffer.baseAddress, count, off_t(offset)) }
            } catch {
                initialized = 0
                failure = error
            }
        }
        if let failure { throw failure }
        return bytes
    }

    /// Writes all of `bytes` at `offset`.
    public func write(_ bytes: [UInt8], at offset: Int64) throws(SystemCallError) {
        var done = 0
        while done < bytes.count {
            let n = try syscall("pwrite(fd \(raw))") {
                bytes.withUnsafeBytes { pwrite(raw, $0.baseAddress! + done, $0.count - done, off_t(offset) + off_t(done)) }
            }
            done += n
        }
    }

    /// Writes all of `bytes` at `offset`.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(SystemCallError) {
        var done = 0
        while done < bytes.count {
            let n = try syscall("pwrite(fd \(raw))") { pwrite(raw, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done)) }
            done += n
        }
    }

    /// Reads everything from the current position to the end.
    public func readAll() throws(SystemCallError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = try syscall("read(fd \(raw))") { chunk.withUnsafeMutableBytes { Glibc.read(raw, $0.baseAddress, $0.count) } }
            if n == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<n])
        }
    }

    /// Size in bytes (the end of a block device, the length of a file).
    public func size() throws(SystemCallError) -> UInt64 {
        UInt64(try syscall("lseek(fd \(raw), SEEK_END)") { lseek(raw, 0, SEEK_END) })
    }

    public func truncate(to size: UInt64) throws(SystemCallError) {
        try syscall("ftruncate(fd \(raw))") { ftruncate(raw, off_t(size)) }
    }

    /// Flushes the file's data and metadata to its device.
    public func sync() throws(SystemCallError) {
        try syscall("fsync(fd \(raw))") { fsync(raw) }
    }

    /// Flushes the whole filesystem the descriptor is on (syncfs).
    public func syncFilesystem() throws(SystemCallError) {
        try syscall("syncfs(fd \(raw))") { kbs_syncfs(raw) }
    }
}

import Glibc

/// Exclusive advisory locks on a file, shared by every process that opens the same path: held for
/// the duration of one call, never for a process's lifetime. Each acquisition opens its own
/// descriptor, so threads of one process exclude each other too.
public enum FileLock {
    /// Runs `body` while holding the lock on `path` (created if missing), waiting for other holders.
    /// `mapError` turns a failure to take the lock into the caller's error type.
    public static func withExclusive<R, E: Error>(
        _ path: String, mapError: (SystemCallError) -> E, _ body: () throws(E) -> R
    ) throws(E) -> R {
        try locked(path, "flock(\(path), LOCK_EX)", mapError: mapError, { flock($0, LOCK_EX) }, body)
    }

    /// Runs `body` while holding the lock on byte `slot` of `path` (created if missing): one file
    /// holds a lock per slot (per device, say), and holders of different slots do not wait for each
    /// other. Open-file-description locks (`F_OFD_SETLKW`): owned by the descriptor, not the process,
    /// so they exclude threads as well, and a process that dies lets go of them.
    public static func withExclusive<R, E: Error>(
        _ path: String, slot: UInt32, mapError: (SystemCallError) -> E, _ body: () throws(E) -> R
    ) throws(E) -> R {
        try locked(path, "fcntl(\(path), F_OFD_SETLKW, byte \(slot))", mapError: mapError, { (fd) -> Int32 in
            var region = flock()
            region.l_type = Int16(F_WRLCK)
            region.l_whence = Int16(SEEK_SET)
            region.l_start = off_t(slot)
            region.l_len = 1
            return withUnsafeMutablePointer(to: &region) { fcntl(fd, offsetLockAndWait, UnsafeMutableRawPointer($0)) }
        }, body)
    }

    /// `F_OFD_SETLKW` (Linux 3.15), which the Glibc module does not export.
    private static let offsetLockAndWait: Int32 = 38

    private static func locked<R, E: Error>(
        _ path: String, _ call: String, mapError: (SystemCallError) -> E, _ lock: (Int32) -> Int32, _ body: () throws(E) -> R
    ) throws(E) -> R {
        try FileDescriptor.withOpened(path, FileDescriptor.Access.readWrite.creating, mapError: mapError) { (fd) throws(E) -> R in
            let raw = fd.raw
            do throws(SystemCallError) {
                try syscall(call) { lock(raw) }
            } catch {
                throw mapError(error)
            }
            // Closing the descriptor (when `withOpened` returns) releases the lock.
            return try body()
        }
    }
}

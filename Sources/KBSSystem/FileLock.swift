import Glibc

/// An exclusive advisory lock (flock) on a file, shared by every process that opens the same path:
/// held for the duration of one call, never for a process's lifetime. Each acquisition opens its
/// own descriptor, so threads of one process exclude each other too.
public enum FileLock {
    /// Runs `body` while holding the lock on `path` (created if missing), waiting for other holders.
    /// `mapError` turns a failure to take the lock into the caller's error type.
    public static func withExclusive<R, E: Error>(
        _ path: String, mapError: (SystemCallError) -> E, _ body: () throws(E) -> R
    ) throws(E) -> R {
        try FileDescriptor.withOpened(path, FileDescriptor.Access.readWrite.creating, mapError: mapError) { (fd) throws(E) -> R in
            let raw = fd.raw
            do throws(SystemCallError) {
                try syscall("flock(\(path), LOCK_EX)") { flock(raw, LOCK_EX) }
            } catch {
                throw mapError(error)
            }
            // Closing the descriptor (when `withOpened` returns) releases the lock.
            return try body()
        }
    }
}

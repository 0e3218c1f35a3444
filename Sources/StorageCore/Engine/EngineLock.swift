import Glibc

/// An exclusive lock on a state directory, held for an engine's lifetime so that two processes
/// never reconcile or change one pool at once.
final class EngineLock: Sendable {
    private let fd: Int32

    init(stateDirectory: String) throws(StorageError) {
        let path = "\(stateDirectory)/lock"
        let fd = try systemCall("open(\(path))", "cannot open the pool lock \(path)") { open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
        do throws(SystemCallError) {
            try syscall("flock(\(path))") { flock(fd, LOCK_EX | LOCK_NB) }
        } catch {
            close(fd)
            if error.errno == EWOULDBLOCK {
                throw StorageError(.unavailable, "the pool in \(stateDirectory) is in use by another process (a running `snapctl serve`?); stop it or use its socket")
            }
            throw error.storageError("cannot lock \(path)")
        }
        self.fd = fd
    }

    /// Lets another process open the pool; the engine must not be used afterwards.
    func release() { flock(fd, LOCK_UN) }

    deinit { close(fd) }
}

import Dispatch
import StorageCore

/// Runs the engine's async `body` to completion for a C caller, blocking the calling thread (a
/// cgo thread in containers/storage's case) until it is done.
func blockingCall<T: Sendable>(_ body: @escaping @Sendable () async throws(StorageError) -> T) -> Result<T, StorageError> {
    let done = DispatchSemaphore(value: 0)
    let outcome = Outcome<T>()
    Task.detached {
        do throws(StorageError) {
            outcome.result = .success(try await body())
        } catch {
            outcome.result = .failure(error)
        }
        done.signal()
    }
    done.wait()
    return outcome.result!
}

/// The result handed from the task to the waiting thread; the semaphore orders the write before the read.
private final class Outcome<T: Sendable>: @unchecked Sendable {
    var result: Result<T, StorageError>?
}

import Dispatch
import StorageCore

/// Runs blocking engine calls (ioctls, fsync, mkfs) on their own threads, off Swift's cooperative pool.
struct EngineOffload: Sendable {
    private let queue = DispatchQueue(label: "kata-block.engine", qos: .userInitiated, attributes: .concurrent)

    func run<T: Sendable>(_ body: @escaping @Sendable () throws(StorageError) -> T) async throws(StorageError) -> T {
        let result: Result<T, StorageError> = await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: Result { () throws(StorageError) -> T in try body() }) }
        }
        return try result.get()
    }
}

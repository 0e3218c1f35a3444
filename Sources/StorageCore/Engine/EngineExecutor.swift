import Foundation
import Synchronization

/// A fixed set of threads for the engine's blocking work (ioctls, fsync, mkfs, clones), shared
/// by every engine of the process: callers await it from Swift concurrency without ever blocking
/// the cooperative pool, and the number of threads in the kernel at once stays bounded.
///
/// Work is never cancelled half way: a call runs to its end (done or rolled back) even when
/// the task awaiting it is cancelled, so that no half-done change is reported as done.
final class EngineExecutor: Sendable {
    /// Shared by all engines of the process; made on first use.
    static let shared = EngineExecutor(threads: max(4, ProcessInfo.processInfo.activeProcessorCount * 2))

    private let queue = Mutex<[@Sendable () -> Void]>([])
    private let waiting = DispatchSemaphore(value: 0)
    let threads: Int

    init(threads: Int) {
        self.threads = threads
        for index in 0..<threads {
            let thread = Thread { [self] in work() }
            thread.name = "kata-block.engine.\(index)"
            thread.start()
        }
    }

    /// Runs `body` on one of the executor's threads and returns its result.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws(StorageError) -> T) async throws(StorageError) -> T {
        let result: Result<T, StorageError> = await withCheckedContinuation { continuation in
            queue.withLock { $0.append { continuation.resume(returning: Result { () throws(StorageError) -> T in try body() }) } }
            waiting.signal()
        }
        return try result.get()
    }

    private func work() {
        while true {
            waiting.wait()
            let job = queue.withLock { $0.removeFirst() }
            job()
        }
    }
}

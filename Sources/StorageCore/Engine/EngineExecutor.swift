import Foundation
import Synchronization

/// A fixed set of threads for the engine's blocking work (ioctls, fsync, mkfs, clones), shared
/// by every engine of the process, and a Swift task executor: a task that prefers it runs its
/// engine calls on these threads with no switch between threads at all, and any other caller
/// hops here for the blocking part of a call and back. The cooperative pool is never blocked, and
/// the number of threads in the kernel at once stays bounded.
///
/// Work is never cancelled half way: a call runs to its end (done or rolled back) even when
/// the task awaiting it is cancelled, so that no half-done change is reported as done.
final class EngineExecutor: TaskExecutor, Sendable {
    /// Shared by all engines of the process; made on first use.
    static let shared = EngineExecutor(threads: max(4, ProcessInfo.processInfo.activeProcessorCount * 2))

    private let queue = Mutex<[UnownedJob]>([])
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

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.withLock { $0.append(job) }
        waiting.signal()
    }

    /// Runs `body` on one of the executor's threads (in place when the caller is on one already).
    func run<T: Sendable>(_ body: @Sendable () throws(StorageError) -> T) async throws(StorageError) -> T {
        try await withTaskExecutorPreference(self) { () async throws(StorageError) -> T in try body() }
    }

    private func work() {
        while true {
            waiting.wait()
            let job = queue.withLock { $0.removeFirst() }
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

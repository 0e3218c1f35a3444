import Synchronization

/// How many calls a server has in progress, so that a graceful shutdown can wait for them.
final class RPCCallTracker: Sendable {
    private let count = Atomic<Int>(0)

    var running: Int { count.load(ordering: .relaxed) }

    func begin() { count.add(1, ordering: .relaxed) }

    func end() { count.subtract(1, ordering: .relaxed) }
}

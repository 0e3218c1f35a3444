import Foundation
import Synchronization
import Testing
@testable import StorageCore

/// Host mounts (Get/Put) of a layer while its children are prepared and removed. On the release
/// before this one the two loops deadlocked within seconds (the mount table's mutex against the
/// store's writer) and prepares were refused while the parent was being attached.
@Suite("Mount deadlock", .serialized, .enabled(if: BackendChoice.block != nil, "set KBS_ROOT_TESTS=1 (root) or KBS_DM_TESTS=1 (VM)"))
struct MountDeadlockTests {
    @Test("mount/unmount of a layer concurrent with prepare/remove of its children finishes, with nothing refused")
    func mountWhilePreparing() async throws {
        let pool = try await TestPool(try #require(BackendChoice.block), filesystem: .ext4, deviceSize: 1 << 30, thinDataSize: 4 << 30,
                                      thinSource: nil, thinPoolName: nil, waitLimit: .seconds(60))
        let s = pool.snapshots
        _ = try await s.prepare("layer")
        try await s.commit("layer", key: "layer")
        let rounds = BackendChoice.block == .dmThin ? 15 : 40
        let failures = Failures()
        let mounter = Task.detached {
            for _ in 0..<rounds {
                do {
                    _ = try await s.mountFilesystem("layer")
                    try await s.unmountFilesystem("layer")
                } catch {
                    failures.add("mount: \(error)")
                }
            }
        }
        let preparer = Task.detached {
            for i in 0..<rounds {
                do {
                    _ = try await s.prepare("child-\(i)", parent: "layer")
                    try await s.remove("child-\(i)")
                } catch {
                    failures.add("prepare/remove: \(error)")
                }
            }
        }
        // Bounded: a deadlock fails the test instead of hanging the run.
        let deadline = ContinuousClock.now + .seconds(BackendChoice.block == .dmThin ? 600 : 120)
        let finished = Done()
        Task.detached {
            await mounter.value
            await preparer.value
            finished.set()
        }
        while !finished.isSet && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        guard finished.isSet else {
            // The stuck calls hold the pool: leave it rather than hang in its teardown.
            Issue.record("mount/unmount and prepare/remove did not finish in time: deadlocked")
            return
        }
        let seen = failures.all
        #expect(seen.isEmpty, "\(seen.count) calls failed; first: \(seen.first ?? "")")
        #expect(try await pool.engine.checkConsistency() == [])
        try await s.remove("layer")
        try await pool.engine.close(destroy: true)
    }
}

/// Failures collected from concurrent loops.
final class Failures: Sendable {
    private let list = Mutex<[String]>([])
    func add(_ failure: String) { list.withLock { $0.append(failure) } }
    var all: [String] { list.withLock { $0 } }
}

/// A flag set once, read from anywhere.
final class Done: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .releasing) }
    var isSet: Bool { flag.load(ordering: .acquiring) }
}

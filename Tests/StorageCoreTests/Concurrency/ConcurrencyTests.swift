import Foundation
import KBSSystem
import Synchronization
import Testing
@testable import StorageCore

@Suite("Concurrency", .serialized)
struct ConcurrencyTests {
    @Test("50 concurrent prepares of one key: exactly one succeeds, the rest get alreadyExists", arguments: BackendChoice.enabled)
    func concurrentSameKey(_ choice: BackendChoice) async throws {
        try await withTestPool(choice) { pool in
            let s = pool.snapshots
            _ = try await s.prepare("p")
            try await s.commit("P", key: "p")
            let outcomes = await withTaskGroup(of: String.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        do throws(StorageError) {
                            _ = try await s.prepare("same", parent: "P")
                            return "ok"
                        } catch {
                            return error.code.name
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 == "ok" }.count == 1)
            #expect(outcomes.filter { $0 == StorageError.Code.alreadyExists.name }.count == 49, "\(outcomes)")
            #expect(try s.list().count == 2)
        }
    }

    @Test("concurrent prepares, commits and removes of different keys all succeed", arguments: BackendChoice.enabled)
    func concurrentDifferentKeys(_ choice: BackendChoice) async throws {
        try await withTestPool(choice) { pool in
            let s = pool.snapshots
            let failures = await withTaskGroup(of: [String].self) { group in
                for worker in 0..<16 {
                    group.addTask {
                        do {
                            for i in 0..<10 {
                                _ = try await s.prepare("w\(worker)/\(i)")
                                try await s.commit("w\(worker)/c\(i)", key: "w\(worker)/\(i)")
                                _ = try await s.view("w\(worker)/v\(i)", parent: "w\(worker)/c\(i)")
                                try await s.remove("w\(worker)/v\(i)")
                            }
                            return []
                        } catch {
                            return ["\(error)"]
                        }
                    }
                }
                return await group.reduce(into: []) { $0 += $1 }
            }
            #expect(failures == [])
            let count = try s.list().count
            #expect(count == 160)
        }
    }

    @Test("a call meeting another caller's operation on its device waits for it, and gives up after the limit with unavailable")
    func waitsForInFlight() async throws {
        // The limit leaves the release below (150 ms in) ample margin under emulation and load.
        try await withTestPool(.memory, waitLimit: .seconds(2)) { pool in
            let s = pool.snapshots
            _ = try await s.prepare("p")
            try await s.commit("P", key: "p")
            let device = try #require(try s.inspect("P").device)
            // A live process (this one's parent of the test, here: a sleeping child) holds P's device in a trying state.
            let holder = Process()
            holder.executableURL = URL(fileURLWithPath: "/bin/sleep")
            holder.arguments = ["30"]
            try holder.run()
            defer { holder.terminate() }
            let owner = ProcessIdentity(bootID: try ProcessIdentity.currentBootID(), pid: holder.processIdentifier,
                                        startTime: try #require(ProcessIdentity.parseStartTime(stat: try Files.read("/proc/\(holder.processIdentifier)/stat"))))
            try setTrying(pool, device.id, .activating, owner: owner)
            // Bounded: still held after the limit gives a clear unavailable, and changes nothing.
            let start = ContinuousClock.now
            try await expectRefused(.unavailable, in: pool) { _ = try await s.prepare("child", parent: "P") }
            #expect(ContinuousClock.now - start >= .milliseconds(1900), "it waited before giving up")
            // Released while a caller waits: the caller goes on. The release comes from a thread of
            // its own, as another process's would: not from a task that a loaded run (the VM's
            // emulated CPUs, other suites blocking the shared pool) may start late.
            let waiter = Task { try await s.prepare("child", parent: "P") }
            let released = Thread {
                Thread.sleep(forTimeInterval: 0.15)
                try? setTrying(pool, device.id, .inactive, owner: nil)
            }
            released.start()
            #expect(try await waiter.value.count == 1)
            #expect(try s.inspect("P").device?.state == .inactive, "the release was written")
            #expect(try s.stat("child").parent == "P")
        }
    }

    @Test("a trying state left by a dead process is recovered on the spot, not refused")
    func recoversDeadOwner() async throws {
        try await withTestPool(.memory) { pool in
            let s = pool.snapshots
            _ = try await s.prepare("p")
            try await s.commit("P", key: "p")
            let device = try #require(try s.inspect("P").device)
            let dead = try deadProcess()
            try setTrying(pool, device.id, .activating, owner: dead)
            _ = try await s.prepare("child", parent: "P")
            #expect(try s.inspect("P").device?.state == .inactive, "the dead call's attach was settled")
        }
    }

    /// Rewrites device `id` to `state` owned by `owner`, as another process's call would.
    private func setTrying(_ pool: TestPool, _ id: UInt32, _ state: DeviceState, owner: ProcessIdentity?) throws {
        try pool.pool.store.write { (txn) throws(StorageError) in
            guard var device = try txn.device(id: id) else { throw StorageError(.notFound, "device \(id)") }
            device.state = state
            device.owner = owner
            try txn.putDevice(device)
        }
    }
}

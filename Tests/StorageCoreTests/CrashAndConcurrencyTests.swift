import Dispatch
import Foundation
import Synchronization
import Testing
@testable import StorageCore

@Suite("Crashes and concurrency", .serialized)
struct CrashAndConcurrencyTests {
    @Test("50 concurrent prepares of one key: exactly one succeeds, the rest get alreadyExists", arguments: BackendChoice.enabled)
    func concurrentSameKey(_ choice: BackendChoice) throws {
        let pool = try TestPool(choice)
        _ = try pool.engine.prepare("p")
        try pool.engine.commit("P", key: "p")
        let engine = pool.engine
        let outcomes = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 50) { _ in
            let outcome: String
            do {
                _ = try engine.prepare("same", parent: "P")
                outcome = "ok"
            } catch let error as StorageError {
                outcome = error.code.name
            } catch {
                outcome = "\(error)"
            }
            outcomes.withLock { $0.append(outcome) }
        }
        let all = outcomes.withLock { $0 }
        #expect(all.filter { $0 == "ok" }.count == 1)
        #expect(all.filter { $0 == StorageError.Code.alreadyExists.name }.count == 49)
        #expect(try pool.engine.list().count == 2)
        #expect(try pool.engine.checkConsistency() == [])
    }

    @Test("concurrent prepares, commits and removes of different keys all succeed", arguments: BackendChoice.enabled)
    func concurrentDifferentKeys(_ choice: BackendChoice) throws {
        let pool = try TestPool(choice)
        let engine = pool.engine
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 16) { worker in
            do {
                for i in 0..<10 {
                    _ = try engine.prepare("w\(worker)/\(i)")
                    try engine.commit("w\(worker)/c\(i)", key: "w\(worker)/\(i)")
                    _ = try engine.view("w\(worker)/v\(i)", parent: "w\(worker)/c\(i)")
                    try engine.remove("w\(worker)/v\(i)")
                }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        #expect(failures.withLock { $0 } == [])
        #expect(try engine.list().count == 160)
        #expect(try engine.checkConsistency() == [])
    }

    /// Runs snapctl with `arguments` on the pool; returns its exit status.
    private func snapctl(_ arguments: [String], pool: TestPool, crashAt: String? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.snapctlPath)
        process.arguments = arguments + ["--state-dir", pool.state, "-q"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        if let crashAt { process.environment = ["KBS_CRASH_AT": crashAt] }
        try process.run()
        return process
    }

    /// snapctl sits next to the test bundle in the build directory.
    static var snapctlPath: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("snapctl").path
    }

    @Test("a process that dies at any crash point leaves a pool that reopens consistent, with the call undone or finished",
          .enabled(if: BackendChoice.block != nil, "set KBS_ROOT_TESTS=1 (root) or KBS_DM_TESTS=1 (VM)"),
          arguments: CrashPoint.allCases.map(\.rawValue))
    func crashPoints(_ point: String) throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.snapctlPath), "build snapctl first (swift build)")
        let pool = try TestPool(try #require(BackendChoice.block))
        _ = try pool.engine.prepare("base")
        try pool.engine.commit("base", key: "base")
        _ = try pool.engine.prepare("active", parent: "base")
        _ = try pool.engine.view("view", parent: "base")
        try pool.engine.close()
        let arguments: [String]
        switch point.split(separator: ".")[0] {
        case "prepare": arguments = ["snapshot", "prepare", "new", "base"]
        case "commit": arguments = ["snapshot", "commit", "committed", "active"]
        default: arguments = ["snapshot", "rm", "view"]
        }
        let process = try snapctl(arguments, pool: pool, crashAt: point)
        process.waitUntilExit()
        #expect(process.terminationStatus == 86, "snapctl did not stop at \(point)")
        try pool.reopenAfterClose()
        #expect(try pool.engine.checkConsistency() == [])
        let names = Set(try pool.engine.list().map(\.name))
        switch point {
        case "prepare.after-record", "prepare.after-clone", "prepare.after-attach":
            #expect(names == ["base", "active", "view"], "an unfinished prepare is undone")
        case "commit.after-mark", "commit.after-detach":
            #expect(names == ["base", "active", "view"], "an unfinished commit is undone")
            #expect(try pool.engine.inspect("active").device?.state == .active)
            _ = try pool.engine.mounts("active")
        default:
            #expect(names == ["base", "active"], "an unfinished remove is finished")
        }
        // The pool keeps working.
        try pool.engine.commit("committed", key: "active")
        _ = try pool.engine.prepare("after", parent: "committed")
    }

    @Test("snapctl killed at random points never leaves an inconsistent pool",
          .enabled(if: BackendChoice.block != nil, "set KBS_ROOT_TESTS=1 (root) or KBS_DM_TESTS=1 (VM)"))
    func killedMidOperation() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.snapctlPath), "build snapctl first (swift build)")
        let pool = try TestPool(try #require(BackendChoice.block))
        _ = try pool.engine.prepare("base")
        try pool.engine.commit("base", key: "base")
        try pool.engine.close()  // hand the pool to the snapctl processes
        var generator = SystemRandomNumberGenerator()
        var killed = 0
        // Under the VM's emulation a process starts ~20x slower: fewer rounds, a wider kill window.
        let emulated = BackendChoice.block == .dmThin
        let window: UInt32 = emulated ? 1_500_000 : 40_000
        for round in 0..<(emulated ? 8 : 24) {
            let verbs: [[String]] = [
                ["snapshot", "prepare", "k\(round)", "base"],
                ["snapshot", "view", "v\(round)", "base"],
                ["snapshot", "commit", "c\(round - 1)", "k\(round - 1)"],
                ["snapshot", "rm", "v\(round - 1)"],
            ]
            for arguments in verbs {
                let process = try snapctl(arguments, pool: pool)
                usleep(UInt32.random(in: 0...window, using: &generator))
                if process.isRunning {
                    kill(process.processIdentifier, SIGKILL)
                    killed += 1
                }
                process.waitUntilExit()
            }
        }
        try pool.reopenAfterClose()
        #expect(killed > 0)
        #expect(try pool.engine.checkConsistency() == [], "after \(killed) kills")
        // Whatever survived still works end to end.
        for info in try pool.engine.list() where info.kind == .active {
            try pool.engine.commit("final-\(info.name)", key: info.name)
        }
        #expect(try pool.engine.checkConsistency() == [])
    }
}

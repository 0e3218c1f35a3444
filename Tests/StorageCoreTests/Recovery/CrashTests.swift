import Foundation
import Testing
@testable import StorageCore

@Suite("Crashes", .serialized)
struct CrashTests {
    /// Runs snapctl with `arguments` on the pool.
    private func snapctl(_ arguments: [String], pool: TestPool, crashAt: String? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: snapctlPath)
        process.arguments = arguments + ["--state-dir", pool.state, "-q", "--namespace", TestPool.namespace]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        if let crashAt { process.environment = ["KBS_CRASH_AT": crashAt] }
        try process.run()
        return process
    }

    @Test("a process that dies at any crash point leaves a pool that reopens consistent, with the call undone or finished",
          .enabled(if: BackendChoice.block != nil, "set KBS_ROOT_TESTS=1 (root) or KBS_DM_TESTS=1 (VM)"),
          arguments: CrashPoint.allCases.map(\.rawValue))
    func crashPoints(_ point: String) async throws {
        try #require(FileManager.default.isExecutableFile(atPath: snapctlPath), "build snapctl first (swift build)")
        try await withTestPool(try #require(BackendChoice.block)) { pool in
            _ = try await pool.snapshots.prepare("base")
            try await pool.snapshots.commit("base", key: "base")
            _ = try await pool.snapshots.prepare("active", parent: "base")
            _ = try await pool.snapshots.view("view", parent: "base")
            try await pool.engine.close()
            let arguments: [String]
            switch point.split(separator: ".")[0] {
            case "prepare": arguments = ["snapshot", "prepare", "new", "base"]
            case "commit": arguments = ["snapshot", "commit", "committed", "active"]
            default: arguments = ["snapshot", "rm", "view"]
            }
            let process = try snapctl(arguments, pool: pool, crashAt: point)
            process.waitUntilExit()
            #expect(process.terminationStatus == 86, "snapctl did not stop at \(point)")
            try await pool.reopenAfterClose()
            #expect(try await pool.engine.checkConsistency() == [])
            let s = pool.snapshots
            let names = Set(try s.list().map(\.name))
            switch point {
            case "prepare.after-record", "prepare.after-clone", "prepare.after-attach":
                #expect(names == ["base", "active", "view"], "an unfinished prepare is undone")
            case "commit.after-mark", "commit.after-detach":
                #expect(names == ["base", "active", "view"], "an unfinished commit is undone")
                #expect(try s.inspect("active").device?.state == .active)
                _ = try await s.mounts("active")
            default:
                #expect(names == ["base", "active"], "an unfinished remove is finished")
            }
            // The pool keeps working.
            try await s.commit("committed", key: "active")
            _ = try await s.prepare("after", parent: "committed")
        }
    }

    @Test("snapctl killed at random points, while this process keeps using the pool, never leaves an inconsistent pool",
          .enabled(if: BackendChoice.block != nil, "set KBS_ROOT_TESTS=1 (root) or KBS_DM_TESTS=1 (VM)"))
    func killedMidOperation() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: snapctlPath), "build snapctl first (swift build)")
        try await withTestPool(try #require(BackendChoice.block)) { pool in
            _ = try await pool.snapshots.prepare("base")
            try await pool.snapshots.commit("base", key: "base")
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
                    // Meanwhile this process uses the same pool: the killed processes' work must
                    // never disturb it, nor it theirs.
                    _ = try await pool.snapshots.view("mine-\(round)-\(arguments[1])", parent: "base")
                    usleep(UInt32.random(in: 0...window, using: &generator))
                    if process.isRunning {
                        kill(process.processIdentifier, SIGKILL)
                        killed += 1
                    }
                    process.waitUntilExit()
                    try await pool.snapshots.remove("mine-\(round)-\(arguments[1])")
                }
            }
            #expect(killed > 0)
            _ = try await pool.engine.maintain()  // what the daemon's maintenance does every 250 ms
            #expect(try await pool.engine.checkConsistency() == [], "after \(killed) kills")
            // Whatever survived still works end to end.
            for info in try pool.snapshots.list() where info.kind == .active {
                try await pool.snapshots.commit("final-\(info.name)", key: info.name)
            }
        }
    }
}

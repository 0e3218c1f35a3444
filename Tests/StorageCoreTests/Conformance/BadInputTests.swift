import Testing
@testable import StorageCore

/// Every refusal has a typed error and leaves the store exactly as it was.
@Suite("Bad input", .serialized)
struct BadInputTests {
    /// A pool with a committed parent "P", an active "A" on it, and a view "V".
    private func populated(_ pool: TestPool) async throws {
        _ = try await pool.snapshots.prepare("p")
        try await pool.snapshots.commit("P", key: "p")
        _ = try await pool.snapshots.prepare("A", parent: "P")
        _ = try await pool.snapshots.view("V", parent: "P")
    }

    @Test("each bad call is refused with its code and changes nothing", arguments: BackendChoice.enabled)
    func refusals(_ choice: BackendChoice) async throws {
        try await withTestPool(choice) { pool in
            try await populated(pool)
            let e = pool.snapshots
            try await expectRefused(.invalidArgument, in: pool) { _ = try await e.prepare("") }
            try await expectRefused(.invalidArgument, in: pool) { _ = try await e.view("") }
            try await expectRefused(.invalidArgument, in: pool) { _ = try await e.prepare("nul\u{0}key") }
            try await expectRefused(.alreadyExists, in: pool) { _ = try await e.prepare("A") }
            try await expectRefused(.alreadyExists, in: pool) { _ = try await e.prepare("P") }
            try await expectRefused(.alreadyExists, in: pool) { _ = try await e.view("V", parent: "P") }
            try await expectRefused(.failedPrecondition, in: pool) { _ = try await e.prepare("x", parent: "A") }
            try await expectRefused(.failedPrecondition, in: pool) { _ = try await e.prepare("x", parent: "V") }
            try await expectRefused(.notFound, in: pool) { _ = try await e.prepare("x", parent: "missing") }
            try await expectRefused(.notFound, in: pool) { _ = try await e.view("x", parent: "missing") }
            try await expectRefused(.failedPrecondition, in: pool) { try await e.commit("C", key: "V") }
            try await expectRefused(.failedPrecondition, in: pool) { try await e.commit("C", key: "P") }
            try await expectRefused(.alreadyExists, in: pool) { try await e.commit("P", key: "A") }
            try await expectRefused(.alreadyExists, in: pool) { try await e.commit("V", key: "A") }
            try await expectRefused(.failedPrecondition, in: pool) { try await e.remove("P") }
            try await expectRefused(.invalidArgument, in: pool) { _ = try await e.update(SnapshotInfo(name: "A", parent: "X"), fieldPaths: ["parent"]) }
            try await expectRefused(.invalidArgument, in: pool) { _ = try await e.update(SnapshotInfo(name: "A"), fieldPaths: ["labels", "kind"]) }
            try await expectRefused(.invalidArgument, in: pool) { _ = try await e.update(SnapshotInfo(name: "A", labels: ["": "v"])) }
            try await expectRefused(.invalidArgument, in: pool) {
                _ = try await e.prepare("big", labels: ["k": String(repeating: "v", count: Pool.maxLabelBytes + 1)])
            }
            try await expectRefused(.failedPrecondition, in: pool) { _ = try await e.mounts("P") }
            try await expectRefused(.notFound, in: pool) { _ = try await e.clone("x", from: "missing") }
            try await expectRefused(.failedPrecondition, in: pool) { try await e.unmountFilesystem("A") }
            for unknown in ["missing", String(repeating: "z", count: 4096)] {
                try await expectRefused(.notFound, in: pool) { _ = try e.stat(unknown) }
                try await expectRefused(.notFound, in: pool) { _ = try await e.mounts(unknown) }
                try await expectRefused(.notFound, in: pool) { _ = try await e.usage(unknown) }
                try await expectRefused(.notFound, in: pool) { try await e.commit("C", key: unknown) }
                try await expectRefused(.notFound, in: pool) { try await e.remove(unknown) }
                try await expectRefused(.notFound, in: pool) { _ = try await e.update(SnapshotInfo(name: unknown, labels: ["a": "b"])) }
                try await expectRefused(.notFound, in: pool) { _ = try e.inspect(unknown) }
            }
            // Another namespace sees none of it.
            let other = pool.engine.snapshots(in: "other")
            try await expectRefused(.notFound, in: pool) { _ = try other.stat("A") }
            try await expectRefused(.notFound, in: pool) { try await other.remove("P") }
            try await expectRefused(.notFound, in: pool) { _ = try await other.prepare("x", parent: "P") }
            // The pool still works after all of that.
            try await e.remove("V")
            try await e.commit("A2", key: "A")
            #expect(try e.stat("A2").parent == "P")
        }
    }

    @Test("a pool is created once per state directory")
    func doubleCreate() async throws {
        try await withTestPool(.memory) { pool in
            var configuration = EngineConfiguration()
            configuration.backend = "memory"
            await #expect(throws: StorageError.self) {
                _ = try await StorageEngine.create(at: pool.state, configuration: configuration, backends: pool.backends, logger: TestPool.logger)
            }
            await #expect(throws: StorageError.self) { _ = try await StorageEngine.open(stateDirectory: pool.state + "-absent", logger: TestPool.logger) }
        }
    }

    @Test("opening the same state directory twice in one process gives the same engine")
    func oneEnginePerDirectory() async throws {
        try await withTestPool(.memory) { pool in
            let again = try await StorageEngine.open(stateDirectory: pool.state + "/./", backends: pool.backends, logger: TestPool.logger)
            #expect(again === pool.engine)
            try await again.close()
            #expect(try pool.snapshots.list().isEmpty, "the first user's engine still works after the second closed")
        }
    }

    @Test("a space policy change on a pool without one is refused and changes nothing")
    func noSpacePolicy() async throws {
        try await withTestPool(.memory) { pool in
            #expect(try await pool.engine.status().minFree == nil)
            try await expectRefused(.failedPrecondition, in: pool) {
                _ = try await pool.engine.setSpacePolicy(SpacePolicyChange(minFree: 0.2))
            }
            try await pool.engine.maintain()
            #expect(try await pool.engine.status().minFree == nil, "the upkeep pass takes no policy either")
        }
    }

    @Test("a backend failure during prepare leaves nothing behind")
    func backendRefusal() async throws {
        try await withTestPool(.memory) { pool in
            // A device id the allocator will hand out next, taken behind the engine's back.
            let next = try #require(try pool.pool.store.read { (txn) throws(StorageError) in try txn.metaInteger("nextDeviceID", as: UInt32.self) })
            try pool.memory.createDevice(next, size: 1)
            try await expectRefused(.alreadyExists, in: pool) { _ = try await pool.snapshots.prepare("k") }
            #expect(try pool.snapshots.list().isEmpty)
            try pool.memory.deleteDevice(next)
        }
    }
}

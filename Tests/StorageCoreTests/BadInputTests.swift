import Testing
@testable import StorageCore

/// Every refusal has a typed error and leaves the store exactly as it was.
@Suite("Bad input", .serialized)
struct BadInputTests {
    /// A pool with a committed parent "P", an active "A" on it, and a view "V".
    private func populated(_ choice: BackendChoice) throws -> TestPool {
        let pool = try TestPool(choice)
        _ = try pool.engine.prepare("p")
        try pool.engine.commit("P", key: "p")
        _ = try pool.engine.prepare("A", parent: "P")
        _ = try pool.engine.view("V", parent: "P")
        return pool
    }

    @Test("each bad call is refused with its code and changes nothing", arguments: BackendChoice.enabled)
    func refusals(_ choice: BackendChoice) throws {
        let pool = try populated(choice)
        let e = pool.engine
        try expectRefused(.invalidArgument, in: pool) { _ = try e.prepare("") }
        try expectRefused(.invalidArgument, in: pool) { _ = try e.view("") }
        try expectRefused(.invalidArgument, in: pool) { _ = try e.prepare("nul\u{0}key") }
        try expectRefused(.alreadyExists, in: pool) { _ = try e.prepare("A") }
        try expectRefused(.alreadyExists, in: pool) { _ = try e.prepare("P") }
        try expectRefused(.alreadyExists, in: pool) { _ = try e.view("V", parent: "P") }
        try expectRefused(.failedPrecondition, in: pool) { _ = try e.prepare("x", parent: "A") }
        try expectRefused(.failedPrecondition, in: pool) { _ = try e.prepare("x", parent: "V") }
        try expectRefused(.notFound, in: pool) { _ = try e.prepare("x", parent: "missing") }
        try expectRefused(.notFound, in: pool) { _ = try e.view("x", parent: "missing") }
        try expectRefused(.failedPrecondition, in: pool) { try e.commit("C", key: "V") }
        try expectRefused(.failedPrecondition, in: pool) { try e.commit("C", key: "P") }
        try expectRefused(.alreadyExists, in: pool) { try e.commit("P", key: "A") }
        try expectRefused(.alreadyExists, in: pool) { try e.commit("V", key: "A") }
        try expectRefused(.failedPrecondition, in: pool) { try e.remove("P") }
        try expectRefused(.invalidArgument, in: pool) { _ = try e.update(SnapshotInfo(name: "A", parent: "X"), fieldPaths: ["parent"]) }
        try expectRefused(.invalidArgument, in: pool) { _ = try e.update(SnapshotInfo(name: "A"), fieldPaths: ["labels", "kind"]) }
        try expectRefused(.invalidArgument, in: pool) { _ = try e.update(SnapshotInfo(name: "A", labels: ["": "v"])) }
        try expectRefused(.invalidArgument, in: pool) {
            _ = try e.prepare("big", labels: ["k": String(repeating: "v", count: StorageEngine.maxLabelBytes + 1)])
        }
        try expectRefused(.failedPrecondition, in: pool) { _ = try e.mounts("P") }
        try expectRefused(.notFound, in: pool) { _ = try e.clone("x", from: "missing") }
        for unknown in ["missing", String(repeating: "z", count: 4096)] {
            try expectRefused(.notFound, in: pool) { _ = try e.stat(unknown) }
            try expectRefused(.notFound, in: pool) { _ = try e.mounts(unknown) }
            try expectRefused(.notFound, in: pool) { _ = try e.usage(unknown) }
            try expectRefused(.notFound, in: pool) { try e.commit("C", key: unknown) }
            try expectRefused(.notFound, in: pool) { try e.remove(unknown) }
            try expectRefused(.notFound, in: pool) { _ = try e.update(SnapshotInfo(name: unknown, labels: ["a": "b"])) }
            try expectRefused(.notFound, in: pool) { _ = try e.inspect(unknown) }
        }
        // The pool still works after all of that.
        try e.remove("V")
        try e.commit("A2", key: "A")
        #expect(try e.stat("A2").parent == "P")
    }

    @Test("a pool is created once per state directory")
    func doubleCreate() throws {
        let pool = try TestPool(.memory)
        #expect(throws: StorageError.self) {
            _ = try StorageEngine.createPool(at: pool.state, options: PoolOptions(backend: .memory(MemoryBackend())), logger: TestPool.logger)
        }
        #expect(throws: StorageError.self) { _ = try StorageEngine.open(stateDirectory: pool.state + "-absent", logger: TestPool.logger) }
    }

    @Test("a backend failure during prepare leaves nothing behind")
    func backendRefusal() throws {
        let pool = try TestPool(.memory)
        // A device id the allocator will hand out next, taken behind the engine's back.
        let next = try pool.engine.store.read { (txn) throws(StorageError) in try txn.metaInteger("nextDeviceID", as: UInt32.self) }!
        try pool.memory.createDevice(next, size: 1)
        try expectRefused(.alreadyExists, in: pool) { _ = try pool.engine.prepare("k") }
        #expect(try pool.engine.list().isEmpty)
    }
}

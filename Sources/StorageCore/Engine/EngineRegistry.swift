/// One engine per state directory per process, handed out by reference: opening a state
/// directory that is open already returns the same engine (containers/storage calls its driver's
/// Init again in one process without Cleanup), and it closes when its last user closes it.
actor EngineRegistry {
    static let shared = EngineRegistry()

    private enum Entry {
        /// Being opened; `users` counts every caller waiting for it.
        case opening(Task<StorageEngine, any Error>, users: Int)
        case open(StorageEngine, users: Int)
    }

    private var entries: [String: Entry] = [:]

    /// The engine for `path` (a canonical path), opened by `open` if no one has it open.
    func engine(for path: String, open: @escaping @Sendable () async throws(StorageError) -> StorageEngine) async throws(StorageError) -> StorageEngine {
        let task: Task<StorageEngine, any Error>
        switch entries[path] {
        case .open(let engine, let users):
            entries[path] = .open(engine, users: users + 1)
            return engine
        case .opening(let pending, let users):
            entries[path] = .opening(pending, users: users + 1)
            task = pending
        case nil:
            task = Task<StorageEngine, any Error> { try await open() }
            entries[path] = .opening(task, users: 1)
        }
        do throws(StorageError) {
            let engine = try await Self.value(of: task)
            // The first waiter to resume turns the entry into an open engine with every waiter counted.
            if case .opening(_, let users) = entries[path] { entries[path] = .open(engine, users: users) }
            return engine
        } catch {
            if case .opening = entries[path] { entries[path] = nil }
            throw error
        }
    }

    /// Registers an engine just created at `path`; refused when one is open there.
    func register(_ engine: StorageEngine, at path: String) throws(StorageError) {
        guard entries[path] == nil else { throw StorageError(.alreadyExists, "a pool is already open in \(path)") }
        entries[path] = .open(engine, users: 1)
    }

    /// Whether an engine is open (or opening) at `path`.
    func isOpen(_ path: String) -> Bool { entries[path] != nil }

    /// Drops one user of the engine at `path`; returns true when it was the last.
    func release(_ path: String) -> Bool {
        guard case .open(let engine, let users) = entries[path] else { return false }
        if users > 1 {
            entries[path] = .open(engine, users: users - 1)
            return false
        }
        entries[path] = nil
        return true
    }

    private static func value(of task: Task<StorageEngine, any Error>) async throws(StorageError) -> StorageEngine {
        do {
            return try await task.value
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError(.internal, "opening the pool failed: \(error)")
        }
    }
}

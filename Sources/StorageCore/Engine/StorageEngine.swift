import KBSSystem
import Logging

/// The storage engine every frontend shares: a snapshot graph in LMDB over a block backend.
///
/// One engine per state directory per process (`open` hands out the same one); any number of
/// processes may open the same state directory at once. Calls that change things or touch the
/// kernel are async and run on the engine's own bounded executor; reads of the store are
/// synchronous and run in place (they never block and never wait for writers). Every call either
/// completes or leaves the store as it was, and every error is a `StorageError`. A call that
/// meets another caller's operation on the same device waits for it (up to the configured
/// limit, then `unavailable`).
public final class StorageEngine: Sendable {
    let pool: Pool
    let waitLimit: Duration
    private let executor: EngineExecutor
    /// The canonical state directory.
    public var stateDirectory: String { pool.stateDirectory }

    private init(pool: Pool, waitLimit: Duration) {
        self.pool = pool
        self.waitLimit = waitLimit
        executor = .shared
    }

    /// Makes a new pool in `stateDirectory` as `configuration` says and opens it.
    public static func create(
        at stateDirectory: String, configuration: EngineConfiguration = EngineConfiguration(), backends: BackendRegistry = .standard, logger: Logger
    ) async throws(StorageError) -> StorageEngine {
        try system("cannot create \(stateDirectory)") { () throws(SystemCallError) in try Files.makeDirectory(stateDirectory) }
        let path = try canonical(stateDirectory)
        if await EngineRegistry.shared.isOpen(path) {
            throw StorageError(.alreadyExists, "a pool already exists in \(path)", remedy: .chooseAnother)
        }
        let pool = try await EngineExecutor.shared.run { () throws(StorageError) in
            try Pool.create(at: path, configuration: configuration, backends: backends, logger: logger)
        }
        let engine = StorageEngine(pool: pool, waitLimit: configuration.waitLimit)
        try await EngineRegistry.shared.register(engine, at: path)
        return engine
    }

    /// Opens the pool in `stateDirectory`, or returns this process's engine for it when it is
    /// open already; reconciles what crashed callers left. `waitLimit` applies when this call opens it.
    public static func open(
        stateDirectory: String, backends: BackendRegistry = .standard, waitLimit: Duration = EngineConfiguration().waitLimit, logger: Logger
    ) async throws(StorageError) -> StorageEngine {
        let path = try canonical(stateDirectory)
        return try await EngineRegistry.shared.engine(for: path) { () throws(StorageError) -> StorageEngine in
            let pool = try await EngineExecutor.shared.run { () throws(StorageError) in
                try Pool.open(stateDirectory: path, backends: backends, logger: logger)
            }
            return StorageEngine(pool: pool, waitLimit: waitLimit)
        }
    }

    /// Opens the pool, or makes it as `configuration` says when there is none.
    public static func openOrCreate(
        stateDirectory: String, configuration: EngineConfiguration, backends: BackendRegistry = .standard, logger: Logger
    ) async throws(StorageError) -> StorageEngine {
        do throws(StorageError) {
            return try await open(stateDirectory: stateDirectory, backends: backends, waitLimit: configuration.waitLimit, logger: logger)
        } catch where error.code == .notFound && error.remedy == .createPool {
            return try await create(at: stateDirectory, configuration: configuration, backends: backends, logger: logger)
        }
    }

    private static func canonical(_ path: String) throws(StorageError) -> String {
        do throws(SystemCallError) {
            return try Files.canonicalPath(path)
        } catch where error.errno == .noSuchFile {
            throw StorageError(.notFound, "no pool in \(path)", remedy: .createPool)
        } catch {
            throw StorageError(error, "cannot resolve \(path)")
        }
    }

    /// The snapshots of one frontend's namespace.
    public func snapshots(in namespace: String) -> SnapshotNamespace { SnapshotNamespace(engine: self, name: namespace) }

    /// Drops this caller's use of the engine; the last close in the process releases it. Host
    /// mounts and attached devices stay: other processes and guests may be using them. With
    /// `destroy`, every device is detached and deleted, the pool taken down and the state
    /// directory removed (no process may use the pool afterwards).
    public func close(destroy: Bool = false) async throws(StorageError) {
        let last = await EngineRegistry.shared.release(pool.stateDirectory)
        guard destroy else { return }
        guard last else { throw StorageError(.busy, "the pool in \(pool.stateDirectory) is still open elsewhere in this process", remedy: .release) }
        try await blocking { (pool) throws(StorageError) in try pool.destroy() }
    }

    // MARK: pool-wide calls

    /// Every snapshot matching `filter`, in all namespaces or one (a read: it runs in place).
    public func list(_ filter: SnapshotFilter = .all, namespace: String? = nil) throws(StorageError) -> [SnapshotInfo] {
        var result: [SnapshotInfo] = []
        try pool.walk(namespace, filter) { result.append($0) }
        return result
    }

    /// The namespaces holding a snapshot named `key`.
    public func namespaces(containing key: String) throws(StorageError) -> [String] { try pool.namespaces(containing: key) }

    /// Pool space, metadata space and counts.
    public func status() async throws(StorageError) -> PoolStatus { try await blocking { (pool) throws(StorageError) in try pool.status() } }

    /// Every inconsistency between the graph, its indexes, the device records, the backend and
    /// the host's mounts; changes nothing.
    public func checkConsistency() async throws(StorageError) -> [ConsistencyProblem] {
        try await blocking { (pool) throws(StorageError) in try pool.checkConsistency() }
    }

    /// Deletes backend devices no snapshot refers to and finishes what dead callers left.
    @discardableResult
    public func cleanup() async throws(StorageError) -> ReconcileReport {
        try await blocking { (pool) throws(StorageError) in try pool.cleanup() }
    }

    /// Brings every device back in line with the kernel (after a reboot: re-attaches devices and
    /// re-creates what the backend needs), then reports what it changed.
    @discardableResult
    public func reconcile() async throws(StorageError) -> ReconcileReport {
        try await blocking { (pool) throws(StorageError) in try pool.reconcile(full: true) }
    }

    /// One pass of background upkeep: devices of removed snapshots deleted, dead callers' work
    /// finished or undone. Returns how many devices it deleted or recovered.
    @discardableResult
    public func maintain() async throws(StorageError) -> Int {
        try await blocking { (pool) throws(StorageError) -> Int in
            let recovered = try pool.recoverAbandonedDevices()
            EngineMetrics.record(recovered)
            let reaped = try pool.reapQueuedDevices()
            EngineMetrics.recordReaped(reaped)
            let count = reaped + recovered.abandonedCreations + recovered.finishedRemovals + recovered.settled
            try pool.keepSpace()
            return count
        }
    }

    /// Hands the space of deleted devices back to the host (an XFS pool file's free extents are
    /// discarded, punching them out of the file) when deletions left some, or always with
    /// `force`, once the last deletion is `settle` old (extents freed a moment ago are
    /// discardable only once the pool's filesystem is done freeing them). Returns the bytes discarded, nil when nothing was done. The
    /// daemon does this in its upkeep pass; commands without a daemon call it.
    @discardableResult
    public func returnFreedSpace(force: Bool = false, settle: Duration = .milliseconds(300)) async throws(StorageError) -> UInt64? {
        try await blocking { (pool) throws(StorageError) in try pool.backend.returnFreedSpace(force: force, settle: settle) }
    }

    /// Grows the pool's data space to `size` bytes while it is in use; returns the new status.
    public func growPool(to size: UInt64) async throws(StorageError) -> PoolStatus {
        try await blocking { (pool) throws(StorageError) -> PoolStatus in
            _ = try pool.backend.growPool(to: size)
            return try pool.status()
        }
    }

    /// Changes how the pool guards and grows its space (min_free, auto-grow) while it is in use;
    /// stored, so every process using the pool takes it. Returns the new status.
    public func setSpacePolicy(_ change: SpacePolicyChange) async throws(StorageError) -> PoolStatus {
        try await blocking { (pool) throws(StorageError) -> PoolStatus in
            _ = try pool.setSpacePolicy(change)
            return try pool.status()
        }
    }

    /// The executor the engine's blocking work runs on. A frontend that runs its request tasks with
    /// this as their executor preference (`withTaskExecutorPreference`) makes each call without a
    /// switch between threads.
    public var taskExecutor: any TaskExecutor { executor }

    /// Tells the engine a reaper (`maintain`, run periodically) runs beside it: removals then
    /// return without waiting for the kernel to finish tearing a device down.
    public func enableBackgroundDeletion() { pool.backend.setBackgroundDeletion(true) }

    // MARK: running calls

    /// Runs `body` on the executor.
    func blocking<T: Sendable>(_ body: @escaping @Sendable (Pool) throws(StorageError) -> T) async throws(StorageError) -> T {
        let pool = pool
        return try await executor.run { () throws(StorageError) -> T in try body(pool) }
    }

    /// Runs a changing call on the executor, again while a device it needs is in another live
    /// caller's operation: waits with growing pauses off the executor, up to the wait limit.
    /// Its latency and failures are counted under `operation`.
    func changing<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (Pool) throws(StorageError) -> T) async throws(StorageError) -> T {
        let started = ContinuousClock.now
        do throws(StorageError) {
            let result = try await retryingInFlight(body)
            EngineMetrics.record(operation, since: started, error: nil)
            return result
        } catch {
            EngineMetrics.record(operation, since: started, error: error)
            throw error
        }
    }

    private func retryingInFlight<T: Sendable>(_ body: @escaping @Sendable (Pool) throws(StorageError) -> T) async throws(StorageError) -> T {
        let clock = ContinuousClock()
        let deadline = clock.now + waitLimit
        var pause = Duration.microseconds(200)
        while true {
            do throws(StorageError) {
                return try await blocking(body)
            } catch where error.code == .inFlight {
                let busy = error.cause.map { "\($0)" } ?? error.message
                let left = deadline - clock.now
                guard left > .zero else {
                    throw StorageError(.unavailable, "\(busy), and was still at it after \(waitLimit)", remedy: .retry)
                }
                // The last pause ends at the deadline, so the call is tried once more there.
                do {
                    try await Task.sleep(for: min(pause, left))
                } catch {
                    throw StorageError(.unavailable, "the call was cancelled while waiting: \(busy)")
                }
                pause = min(pause * 2, .milliseconds(20))
            }
        }
    }
}


import KBSSystem
import Logging
import Synchronization

/// One open pool and the synchronous operations on it: the graph store, the backend, the pool's
/// settings and the identity of this process. `StorageEngine` is its async face; every call here
/// may block on the kernel and runs on the engine's executor.
///
/// Lock order, for the whole engine (the same in every process):
/// 1. A device's trying state, taken in a write transaction and released by a later one. Held
///    across kernel and file calls; never waited for while anything else is held (a caller that
///    meets one leaves its transaction and waits outside, `StorageEngine.waitingWhileInFlight`).
/// 2. Locks shared with other processes (`FileLock`), held across kernel calls and the tools that
///    read what they guard (thin_ls), never while a transaction is open: first a device's attach
///    lock (one device at a time, `Pool+Attach.swift`), then the thin-pool's metadata and its one
///    metadata snapshot, or the file pool's own filesystem.
/// 3. The store's single writer (LMDB, across processes), held for one transaction body: no
///    kernel call, subprocess or wait happens inside one.
/// 4. `Mutex`es, innermost: they guard in-memory values only and call nothing while held.
final class Pool: Sendable {
    let stateDirectory: String
    let store: GraphStore
    let backend: any BlockBackend
    let record: PoolRecord
    let logger: Logger
    /// This process, as it appears in the trying records it writes.
    let owner: ProcessIdentity
    /// Devices with a transition running in this process: a trying record this process owns and
    /// that is not here was left by a call that failed to finish its own cleanup.
    let inFlight = Mutex<Set<UInt32>>([])

    init(stateDirectory: String, store: GraphStore, backend: any BlockBackend, record: PoolRecord, logger: Logger) throws(StorageError) {
        self.stateDirectory = stateDirectory
        self.store = store
        self.backend = backend
        self.record = record
        self.logger = logger
        owner = try system("cannot identify this process") { () throws(SystemCallError) in try ProcessIdentity.current() }
    }

    static func metadataDirectory(_ state: String) -> String { "\(state)/metadata" }
    static func poolDirectory(_ state: String) -> String { "\(state)/pool" }
    var mountsDirectory: String { "\(stateDirectory)/mounts" }
    var filesystem: FilesystemType { record.filesystem }

    /// The filesystem on `device`: its own (a volume's), or the pool's.
    func filesystem(of device: DeviceRecord) -> FilesystemType { device.filesystem ?? record.filesystem }

    /// Largest accepted key or name, in UTF-8 bytes.
    static let maxNameBytes = 64 * 1024
    /// Largest accepted label set, keys and values together, in bytes.
    static let maxLabelBytes = 64 * 1024

    func validateName(_ name: String, _ what: String) throws(StorageError) {
        guard !name.isEmpty else { throw StorageError(.invalidArgument, "\(what) must not be empty") }
        guard name.utf8.count <= Self.maxNameBytes else {
            throw StorageError(.invalidArgument, "\(what) is \(name.utf8.count) bytes; the limit is \(Self.maxNameBytes)")
        }
        guard !name.utf8.contains(0) else { throw StorageError(.invalidArgument, "\(what) must not contain NUL bytes") }
    }

    func validateLabels(_ labels: [String: String]) throws(StorageError) {
        var total = 0
        for (key, value) in labels {
            guard !key.isEmpty else { throw StorageError(.invalidArgument, "label keys must not be empty") }
            total += key.utf8.count + value.utf8.count
        }
        guard total <= Self.maxLabelBytes else {
            throw StorageError(.invalidArgument, "labels take \(total) bytes; the limit is \(Self.maxLabelBytes)")
        }
    }

    func requireSnapshot(_ name: String, in namespace: String, _ txn: borrowing GraphTransaction) throws(StorageError) -> SnapshotRecord {
        guard let record = try txn.snapshot(named: name, in: namespace) else { throw StorageError.notFound("snapshot", name) }
        return record
    }

    func requireDevice(of record: SnapshotRecord, _ txn: borrowing GraphTransaction) throws(StorageError) -> DeviceRecord {
        guard let device = try txn.device(id: record.deviceID) else {
            throw StorageError.inconsistent("snapshot \(StorageError.quoted(record.name)) has no device record")
        }
        return device
    }

    func info(_ record: SnapshotRecord, _ txn: borrowing GraphTransaction) throws(StorageError) -> SnapshotInfo {
        SnapshotInfo(record, parent: try txn.snapshot(id: record.parentID)?.name)
    }

    func mounts(for device: DeviceRecord, kind: SnapshotKind) -> [Mount] {
        let filesystem = filesystem(of: device)
        return [Mount(type: filesystem.rawValue, source: device.path, options: filesystem.mountOptions(readOnly: kind != .active))]
    }

    /// Durability of a creation's trying record: a power loss that undoes it leaves a device no
    /// record names, which reconciliation deletes, unless the pool is shared with another user,
    /// whose devices look the same (then it must be durable). See `Transition.swift`.
    var creationDurability: TransitionDurability { backend.ownsEveryDevice ? .processCrashSafe : .durable }
}

import Glibc
import Logging

/// The storage engine both frontends share: a snapshot graph in LMDB over a block backend.
///
/// Calls are synchronous and may block on the kernel; async frontends run them off the
/// cooperative pool. Every call either completes or leaves the store as it was, and every
/// error is a `StorageError`.
public final class StorageEngine: Sendable {
    public let stateDirectory: String
    let store: GraphStore
    let backend: any BlockBackend
    let config: PoolConfig
    let mounts: MountTable
    let logger: Logger
    private let lock: EngineLock

    /// Largest accepted key or name, in UTF-8 bytes.
    public static let maxNameBytes = 64 * 1024
    /// Largest accepted label set, keys and values together, in bytes.
    public static let maxLabelBytes = 64 * 1024

    private init(stateDirectory: String, lock: EngineLock, store: GraphStore, backend: any BlockBackend, config: PoolConfig, logger: Logger) {
        self.lock = lock
        self.stateDirectory = stateDirectory
        self.store = store
        self.backend = backend
        self.config = config
        self.mounts = MountTable(directory: "\(stateDirectory)/mounts")
        self.logger = logger
    }

    static func metadataDirectory(_ state: String) -> String { "\(state)/metadata" }
    static func poolDirectory(_ state: String) -> String { "\(state)/pool" }

    /// Makes a new pool in `stateDirectory`: backend, base device formatted once, settings.
    public static func createPool(at stateDirectory: String, options: PoolOptions, logger: Logger) throws(StorageError) -> StorageEngine {
        try ReflinkFilePool.makeDirectory(metadataDirectory(stateDirectory))
        let lock = try EngineLock(stateDirectory: stateDirectory)
        let store = try GraphStore(directory: metadataDirectory(stateDirectory))
        if try store.read({ (txn) throws(StorageError) in try txn.metaLabels("pool") }) != nil {
            throw StorageError(.alreadyExists, "a pool already exists in \(stateDirectory); use `snapctl pool status` or choose another --state-dir")
        }
        let backend: any BlockBackend
        let layout: String
        var backendSettings: [String: String] = [:]
        switch options.backend {
        case .file(let poolSize):
            let pool = try ReflinkFilePool.create(directory: poolDirectory(stateDirectory), size: poolSize, logger: logger)
            backend = pool
            layout = pool.layout.rawValue
        case .thin(let settings, let dataSize):
            backend = try ThinPool.create(settings, dataSize: dataSize, logger: logger)
            backendSettings = settings.labels
            layout = backendSettings["source"] ?? "existing"
        case .memory(let memory):
            backend = memory
            layout = "memory"
        }
        // A pool shared with another user (an existing thin-pool) may hold devices already: our
        // ids start above theirs.
        let taken = backend.ownsEveryDevice ? [] : try backend.deviceIDs()
        let baseID = try store.write { (txn) throws(StorageError) -> UInt32 in
            if let highest = taken.max(), highest < GraphTransaction.maxDeviceID { try txn.setMetaInteger("nextDeviceID", highest + 1) }
            let id = try txn.allocateDeviceID()
            try txn.putDevice(DeviceRecord(id: id, snapshotID: 0, originID: 0, sizeBytes: options.defaultDeviceSize, state: .creating))
            return id
        }
        let config = PoolConfig(backend: backend.kind, layout: layout, filesystem: options.filesystem,
                                defaultDeviceSize: options.defaultDeviceSize, baseDeviceID: baseID)
        do throws(StorageError) {
            try backend.createDevice(baseID, size: options.defaultDeviceSize)
            if backend.providesBlockDevices {
                let path = try backend.activate(baseID, size: options.defaultDeviceSize, readOnly: false)
                let formatted = Result { () throws(StorageError) in
                    try options.filesystem.makeEmptyRoot(path, scratch: "\(stateDirectory)/mounts/base")
                }
                try backend.deactivate(baseID, path: path)
                try formatted.get()
            }
            try store.write { (txn) throws(StorageError) in
                var base = try txn.device(id: baseID)!
                try base.move(to: .inactive)
                try txn.putDevice(base)
                try txn.setMetaLabels("pool", config.labels)
                if !backendSettings.isEmpty { try txn.setMetaLabels("backend", backendSettings) }
                try txn.recordGeneration(of: backend)
            }
        } catch {
            try? backend.deleteDevice(baseID)
            try? backend.shutDown()  // the thin-pool device or the mounted pool file goes too
            try? store.write { (txn) throws(StorageError) in try txn.deleteDevice(id: baseID) }
            throw error
        }
        logger.info("pool created", metadata: [
            "state": "\(stateDirectory)", "backend": "\(backend.kind)", "layout": "\(layout)",
            "filesystem": "\(options.filesystem.rawValue)", "deviceSize": "\(options.defaultDeviceSize)",
        ])
        return StorageEngine(stateDirectory: stateDirectory, lock: lock, store: store, backend: backend, config: config, logger: logger)
    }

    /// Opens the pool in `stateDirectory` and reconciles the store with the backend.
    /// Pass `backend` only to reopen an in-memory pool in tests.
    public static func open(stateDirectory: String, backend: (any BlockBackend)? = nil, logger: Logger) throws(StorageError) -> StorageEngine {
        let metadata = metadataDirectory(stateDirectory)
        guard access(metadata, F_OK) == 0 else {
            throw StorageError(.notFound, "no pool in \(stateDirectory); create one with `snapctl pool create --state-dir \(stateDirectory)`")
        }
        let lock = try EngineLock(stateDirectory: stateDirectory)
        let store = try GraphStore(directory: metadata)
        guard let labels = try store.read({ (txn) throws(StorageError) in try txn.metaLabels("pool") }) else {
            throw StorageError(.notFound, "no pool in \(stateDirectory) (creation did not finish); remove the directory and create the pool again")
        }
        let config = try PoolConfig(labels: labels)
        let chosen: any BlockBackend
        if let backend {
            chosen = backend
        } else {
            switch config.backend {
            case "file":
                guard let layout = ReflinkFilePool.Layout(rawValue: config.layout) else {
                    throw StorageError(.internal, "unknown file pool layout \(config.layout)")
                }
                chosen = try ReflinkFilePool.open(directory: poolDirectory(stateDirectory), layout: layout, logger: logger)
            case "dm-thin":
                guard let labels = try store.read({ (txn) throws(StorageError) in try txn.metaLabels("backend") }) else {
                    throw StorageError(.internal, "the thin-pool settings of \(stateDirectory) are missing; run `snapctl fsck`")
                }
                chosen = try ThinPool.open(ThinPoolSettings(labels: labels), logger: logger)
            case "memory":
                throw StorageError(.unavailable, "the pool in \(stateDirectory) was in memory and is gone")
            default:
                throw StorageError(.unavailable, "the pool in \(stateDirectory) uses the \(config.backend) backend, which this build does not have")
            }
        }
        let engine = StorageEngine(stateDirectory: stateDirectory, lock: lock, store: store, backend: chosen, config: config, logger: logger)
        try engine.reconcile()
        return engine
    }

    /// Tells the engine a reaper (`reapRemovedDevices`, run periodically) runs beside it: removals
    /// then return without waiting for the kernel to finish tearing a device down.
    public func enableBackgroundDeletion() { backend.setBackgroundDeletion(true) }

    /// Unmounts what this engine mounted on the host. Devices stay attached: guests may be using them.
    /// With `destroy`, detaches and deletes every device and the pool, and removes the state directory.
    public func close(destroy: Bool = false) throws(StorageError) {
        try mounts.unmountAll()
        defer { lock.release() }
        guard destroy else { return }
        let devices = try store.read { (txn) throws(StorageError) in try txn.allDevices() }
        let attached = try backend.attachedDevices()
        for device in devices {
            if let path = attached[device.id] { try backend.deactivate(device.id, path: path) }
            try backend.deleteDevice(device.id)
        }
        try backend.shutDown()
        removeTree(stateDirectory)
        logger.info("pool destroyed", metadata: ["state": "\(stateDirectory)"])
    }

    // MARK: shared helpers

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

    func requireSnapshot(_ name: String, in txn: borrowing GraphTransaction) throws(StorageError) -> SnapshotRecord {
        guard let record = try txn.snapshot(named: name) else { throw StorageError.notFound("snapshot", name) }
        return record
    }

    func requireDevice(of record: SnapshotRecord, in txn: borrowing GraphTransaction) throws(StorageError) -> DeviceRecord {
        guard let device = try txn.device(id: record.deviceID) else {
            throw StorageError(.internal, "snapshot \(StorageError.quoted(record.name)) has no device record; run `snapctl fsck`")
        }
        return device
    }

    /// The snapshot `key` and its device, read together.
    func snapshotAndDevice(_ key: String) throws(StorageError) -> (SnapshotRecord, DeviceRecord) {
        try store.read { (txn) throws(StorageError) -> (SnapshotRecord, DeviceRecord) in
            let record = try requireSnapshot(key, in: txn)
            return (record, try requireDevice(of: record, in: txn))
        }
    }

    func info(_ record: SnapshotRecord, in txn: borrowing GraphTransaction) throws(StorageError) -> SnapshotInfo {
        SnapshotInfo(record, parent: try txn.snapshot(id: record.parentID)?.name)
    }

    func mountsFor(_ device: DeviceRecord, kind: SnapshotKind) -> [Mount] {
        [Mount(type: config.filesystem.rawValue, source: device.path,
               options: config.filesystem.mountOptions(readOnly: kind != .active))]
    }
}

/// Removes a directory tree (a destroyed pool's state), never crossing into another mounted filesystem.
func removeTree(_ path: String) {
    var root = stat()
    guard lstat(path, &root) == 0 else { return }
    removeTree(path, device: root.st_dev)
}

private func removeTree(_ path: String, device: dev_t) {
    var st = stat()
    guard lstat(path, &st) == 0, st.st_dev == device else { return }
    guard (st.st_mode & S_IFMT) == S_IFDIR, let entries = directoryEntries(path) else {
        unlink(path)
        return
    }
    for (name, _) in entries { removeTree("\(path)/\(name)", device: device) }
    rmdir(path)
}

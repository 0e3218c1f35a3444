import KBSLMDB

/// Versions of the stored layout and the steps between them. Opening a pool brings its store to
/// `current` in one write transaction (whichever process opens it first); a store written by a
/// newer release is refused without being touched.
///
/// - 1: snapshots without namespaces, device records without owners or host mounts, the pool
///   and backend settings as label maps.
/// - 2: namespaced snapshots and name index, device owners and host mounts, the pending index,
///   one pool record with the backend's own settings.
enum Schema {
    static let current: UInt32 = 2

    /// Schema 1 snapshots all came from the containerd frontend: they keep serving it.
    static let legacyNamespace = "containerd"

    /// Turns schema 1's pool and backend label maps into a pool record.
    typealias LegacyPool = (_ pool: [String: String], _ backend: [String: String]?) throws(StorageError) -> PoolRecord

    /// The store's schema, or nil for a store with nothing in it yet.
    static func version(of store: GraphStore) throws(StorageError) -> UInt32? {
        try store.read { (txn) throws(StorageError) in try txn.metaInteger("schema", as: UInt32.self) }
    }

    /// Brings `store` to the current schema; refuses one newer than this release.
    static func upgrade(_ store: GraphStore, directory: String, legacyPool: LegacyPool) throws(StorageError) {
        guard let found = try version(of: store), found != current else { return }
        try refuseNewer(found, directory)
        try store.write { (txn) throws(StorageError) in
            guard let version = try txn.metaInteger("schema", as: UInt32.self), version != current else { return }
            try refuseNewer(version, directory)
            if version == 1 { try upgradeFrom1(txn, legacyPool: legacyPool) }
            try txn.setMetaInteger("schema", current)
        }
    }

    private static func refuseNewer(_ version: UInt32, _ directory: String) throws(StorageError) {
        guard version <= current else {
            throw StorageError(.unavailable, "the store in \(directory) has schema \(version); this release reads schema \(current) and older",
                               remedy: .upgrade)
        }
    }

    /// 1 -> 2: every record is rewritten in its new format; names are indexed by namespace.
    private static func upgradeFrom1(_ txn: borrowing GraphTransaction, legacyPool: LegacyPool) throws(StorageError) {
        var snapshots: [SnapshotRecord] = []
        try txn.lmdb.scan(txn.store.snapshots) { (_, raw) throws(StorageError) -> Bool in
            snapshots.append(try SnapshotRecord(decoding: raw, legacyNamespace: legacyNamespace))
            return true
        }
        var devices: [DeviceRecord] = []
        try txn.lmdb.scan(txn.store.devices) { (_, raw) throws(StorageError) -> Bool in
            devices.append(try DeviceRecord(decoding: raw, legacy: true))
            return true
        }
        try txn.db { () throws(LMDBError) in try txn.lmdb.clear(txn.store.names) }
        for record in snapshots {
            try txn.putSnapshot(record)
            try txn.indexName(record.namespace, record.name, id: record.id)
        }
        for device in devices { try txn.putDevice(device) }
        guard let pool = try txn.metaLabels("pool") else {
            throw StorageError.inconsistent("the schema 1 store has no pool settings")
        }
        try txn.setPool(try legacyPool(pool, try txn.metaLabels("backend")))
        try txn.deleteMeta("backend")
    }
}

import CLMDB

/// The snapshot graph and device table in one LMDB environment, so that one write transaction
/// covers a snapshot and its device together.
final class GraphStore: Sendable {
    static let schemaVersion: UInt32 = 1
    /// Name-index keys longer than this are stored as a prefix plus a hash (LMDB keys max out at 511 bytes).
    static let maxInlineNameBytes = 480

    let environment: LMDBEnvironment
    let meta: MDB_dbi
    let snapshots: MDB_dbi
    let names: MDB_dbi
    let children: MDB_dbi
    let devices: MDB_dbi

    init(directory: String, mapSize: Int = 4 << 30) throws(StorageError) {
        let env = try LMDBEnvironment(directory: directory, mapSize: mapSize, maxDatabases: 8)
        environment = env
        (meta, snapshots, names, children, devices) = try env.write { (txn) throws(StorageError) in
            (
                try env.openDatabase("meta", in: txn),
                try env.openDatabase("snapshots", in: txn),
                try env.openDatabase("names", flags: MDB_DUPSORT | MDB_DUPFIXED, in: txn),
                try env.openDatabase("children", in: txn),
                try env.openDatabase("devices", in: txn)
            )
        }
        try write { (txn) throws(StorageError) in
            if let version = try txn.metaInteger("schema", as: UInt32.self) {
                guard version == Self.schemaVersion else {
                    throw StorageError(.unavailable, "state in \(directory) has schema \(version); this snapctl reads schema \(Self.schemaVersion)")
                }
            } else {
                try txn.setMetaInteger("schema", Self.schemaVersion)
            }
        }
    }

    func read<T>(_ body: (borrowing GraphTransaction) throws(StorageError) -> T) throws(StorageError) -> T {
        try environment.read { (txn) throws(StorageError) -> T in
            try body(GraphTransaction(lmdb: LMDBTransaction(handle: txn.handle), store: self))
        }
    }

    /// One atomic, durable change to graph and devices; nothing is kept if `body` throws.
    func write<T>(_ body: (borrowing GraphTransaction) throws(StorageError) -> T) throws(StorageError) -> T {
        try environment.write { (txn) throws(StorageError) -> T in
            try body(GraphTransaction(lmdb: LMDBTransaction(handle: txn.handle), store: self))
        }
    }

    /// The name-index key for a snapshot name: the name itself, or for long names a prefix and a hash.
    static func nameKey(_ name: String) -> [UInt8] {
        let utf8 = Array(name.utf8)
        if utf8.count <= maxInlineNameBytes { return utf8 }
        var key = Array(utf8.prefix(maxInlineNameBytes - 9))
        key.append(0)
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a; collisions are resolved by comparing stored names
        for byte in utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        withUnsafeBytes(of: hash.bigEndian) { key.append(contentsOf: $0) }
        return key
    }
}

import KBSLMDB

/// The snapshot graph, device table and pool settings in one LMDB environment, so that one write
/// transaction covers a snapshot and its device together. Every process using the pool opens it;
/// LMDB serializes their writers, and readers never wait.
final class GraphStore: Sendable {
    /// Name-index keys longer than this are stored as a prefix plus a hash (LMDB keys max out at 511 bytes).
    static let maxInlineNameBytes = 480

    let environment: LMDBEnvironment
    let meta: LMDBDatabase
    let snapshots: LMDBDatabase
    let names: LMDBDatabase
    let children: LMDBDatabase
    let devices: LMDBDatabase
    /// Ids of devices in a trying state: what recovery looks at without reading every device.
    let pending: LMDBDatabase

    init(directory: String, mapSize: Int = 4 << 30) throws(StorageError) {
        do throws(LMDBError) {
            let env = try LMDBEnvironment(directory: directory, mapSize: mapSize, maxDatabases: 8)
            try env.clearStaleReaders()
            environment = env
            (meta, snapshots, names, children, devices, pending) = try env.write { (txn) throws(LMDBError) in
                (
                    try env.openDatabase("meta", in: txn),
                    try env.openDatabase("snapshots", in: txn),
                    try env.openDatabase("names", flags: [.duplicateSort, .duplicateFixed], in: txn),
                    try env.openDatabase("children", in: txn),
                    try env.openDatabase("devices", in: txn),
                    try env.openDatabase("pending", in: txn)
                )
            }
        } catch {
            var failure = StorageError(lmdb: error)
            failure.message += " (opening \(directory))"
            throw failure
        }
    }

    func read<T>(_ body: (borrowing GraphTransaction) throws(StorageError) -> T) throws(StorageError) -> T {
        try environment.read { (txn) throws(StorageError) -> T in
            try body(GraphTransaction(lmdb: LMDBTransaction(wrapping: txn), store: self))
        }
    }

    /// One atomic change to graph and devices; nothing is kept if `body` throws. `durability` says
    /// whether it must be on disk before this returns (an outcome) or only safe from a crash of
    /// this process (a "trying" record, host mounts).
    func write<T>(
        _ durability: LMDBEnvironment.Durability = .durable, _ body: (borrowing GraphTransaction) throws(StorageError) -> T
    ) throws(StorageError) -> T {
        try environment.write(durability) { (txn) throws(StorageError) -> T in
            try body(GraphTransaction(lmdb: LMDBTransaction(wrapping: txn), store: self))
        }
    }

    /// Bytes of the store in use and its map size.
    func spaceUsage() throws(StorageError) -> (used: Int64, total: Int64) {
        do throws(LMDBError) {
            return try environment.spaceUsage()
        } catch {
            throw StorageError(lmdb: error)
        }
    }

    /// The name-index key of `name` in `namespace`: both, NUL-separated, or for long ones a prefix and a hash.
    static func nameKey(_ namespace: String, _ name: String) -> [UInt8] {
        var utf8: [UInt8] = []
        utf8.reserveCapacity(namespace.utf8.count + 1 + name.utf8.count)
        utf8.append(contentsOf: namespace.utf8)
        utf8.append(0)
        utf8.append(contentsOf: name.utf8)
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

import CLMDB
import Glibc

/// A failed LMDB call, with the operation that failed.
struct LMDBError: Error, CustomStringConvertible, Sendable {
    let operation: String
    let code: Int32

    var description: String { "\(operation): \(String(cString: mdb_strerror(code)))" }

    var storageError: StorageError {
        switch code {
        case MDB_MAP_FULL:
            return StorageError(.noSpace, "the metadata store is full; raise its map size or remove snapshots", cause: self)
        case MDB_READERS_FULL:
            return StorageError(.unavailable, "too many concurrent readers of the metadata store; retry", cause: self)
        case MDB_VERSION_MISMATCH, MDB_INVALID, MDB_CORRUPTED:
            return StorageError(.internal, "the metadata store is damaged or from another LMDB version; run `snapctl fsck`", cause: self)
        default:
            return StorageError(.internal, "metadata store operation failed", cause: self)
        }
    }
}

/// The one funnel for LMDB return codes.
@inline(__always)
func lmdb(_ rc: Int32, _ operation: @autoclosure () -> String) throws(StorageError) {
    if rc != 0 { throw LMDBError(operation: operation(), code: rc).storageError }
}

/// An LMDB environment: one memory-mapped file holding every named database of the graph.
///
/// `MDB_env` is documented as safe to share between threads; transactions are not, and never
/// leave the scoped `read`/`write` calls that create them.
final class LMDBEnvironment: @unchecked Sendable {
    private let handle: OpaquePointer

    /// Opens (creating if needed) the environment in `directory`.
    init(directory: String, mapSize: Int, maxDatabases: UInt32) throws(StorageError) {
        var env: OpaquePointer?
        try lmdb(mdb_env_create(&env), "mdb_env_create")
        guard let env else { throw StorageError(.internal, "mdb_env_create returned no environment") }
        do {
            try lmdb(mdb_env_set_maxdbs(env, maxDatabases), "mdb_env_set_maxdbs")
            try lmdb(mdb_env_set_mapsize(env, mapSize), "mdb_env_set_mapsize")
            try lmdb(mdb_env_set_maxreaders(env, 512), "mdb_env_set_maxreaders")
            try lmdb(mdb_env_open(env, directory, UInt32(MDB_NOTLS), 0o600), "mdb_env_open(\(directory))")
        } catch {
            mdb_env_close(env)
            throw error
        }
        handle = env
        // Clear reader slots left by processes that died mid-read.
        var dead: Int32 = 0
        mdb_reader_check(env, &dead)
    }

    deinit { mdb_env_close(handle) }

    /// Opens or creates a named database; call once at start-up, inside `write`.
    func openDatabase(_ name: String, flags: Int32 = 0, in txn: borrowing LMDBTransaction) throws(StorageError) -> MDB_dbi {
        var dbi: MDB_dbi = 0
        try lmdb(mdb_dbi_open(txn.handle, name, UInt32(flags | MDB_CREATE), &dbi), "mdb_dbi_open(\(name))")
        return dbi
    }

    /// Runs `body` in a read-only snapshot of the store.
    func read<T>(_ body: (borrowing LMDBTransaction) throws(StorageError) -> T) throws(StorageError) -> T {
        var txn: OpaquePointer?
        try lmdb(mdb_txn_begin(handle, nil, UInt32(MDB_RDONLY), &txn), "mdb_txn_begin(read)")
        let transaction = LMDBTransaction(handle: txn!)
        defer { mdb_txn_abort(transaction.handle) }
        return try body(transaction)
    }

    /// Runs `body` in one write transaction: committed durably if it returns, discarded if it throws.
    func write<T>(_ body: (borrowing LMDBTransaction) throws(StorageError) -> T) throws(StorageError) -> T {
        var txn: OpaquePointer?
        try lmdb(mdb_txn_begin(handle, nil, 0, &txn), "mdb_txn_begin(write)")
        let transaction = LMDBTransaction(handle: txn!)
        let result: T
        do {
            result = try body(transaction)
        } catch {
            mdb_txn_abort(transaction.handle)
            throw error
        }
        try lmdb(mdb_txn_commit(transaction.handle), "mdb_txn_commit")
        return result
    }

    /// Bytes used by the store's pages and the map's size.
    func spaceUsage() throws(StorageError) -> (used: Int64, total: Int64) {
        var info = MDB_envinfo()
        var stat = MDB_stat()
        try lmdb(mdb_env_info(handle, &info), "mdb_env_info")
        try lmdb(mdb_env_stat(handle, &stat), "mdb_env_stat")
        return (Int64(info.me_last_pgno + 1) * Int64(stat.ms_psize), Int64(info.me_mapsize))
    }
}

import CLMDB
import Dispatch
import Glibc

/// An LMDB environment: one memory-mapped file holding named databases, shared by every
/// process that opens the same directory (LMDB's own lock file serializes their writers).
///
/// `MDB_env` is documented as safe to use from many threads; transactions are not, and never
/// leave the scoped `read`/`write` calls that make them. That is why this class can be Sendable.
public final class LMDBEnvironment: @unchecked Sendable {
    @usableFromInline let handle: OpaquePointer
    /// Every write transaction of this process runs on this queue, one at a time, as LMDB runs
    /// them anyway: so the meta-sync flag a crash-safe commit sets cannot leak into another
    /// thread's durable commit.
    @usableFromInline let writer = DispatchQueue(label: "kata-block.lmdb.writer")

    /// How a write transaction reaches the disk.
    public enum Durability: Sendable {
        /// On disk before `write` returns: survives a power loss.
        case durable
        /// Safe from a process crash at once and from a power loss by the next durable write; a
        /// power loss before that undoes it, never damages the store.
        case processCrashSafe
    }

    /// Opens (creating if needed) the environment in `directory`.
    ///
    /// A durable commit is LMDB's own: its pages are written and fdatasync'ed, then the meta
    /// page through a synchronous descriptor. A crash-safe one skips the meta page's sync
    /// (MDB_NOMETASYNC for that commit): the store stays intact on power loss, but that commit
    /// may be undone, until the next durable one makes it durable with itself.
    public init(directory: String, mapSize: Int, maxDatabases: UInt32, maxReaders: UInt32 = 512) throws(LMDBError) {
        var env: OpaquePointer?
        try check(mdb_env_create(&env), "mdb_env_create")
        guard let env else { throw LMDBError(operation: "mdb_env_create returned no environment", code: EINVAL) }
        do throws(LMDBError) {
            try check(mdb_env_set_maxdbs(env, maxDatabases), "mdb_env_set_maxdbs")
            try check(mdb_env_set_mapsize(env, mapSize), "mdb_env_set_mapsize")
            try check(mdb_env_set_maxreaders(env, maxReaders), "mdb_env_set_maxreaders")
            try check(mdb_env_open(env, directory, UInt32(MDB_NOTLS), 0o600), "mdb_env_open(\(directory))")
        } catch {
            mdb_env_close(env)
            throw error
        }
        handle = env
    }

    /// Closes the environment; no transaction may be open.
    deinit { mdb_env_close(handle) }

    /// Frees reader slots left by processes that died in the middle of a read; returns how many.
    @discardableResult
    public func clearStaleReaders() throws(LMDBError) -> Int {
        var dead: Int32 = 0
        try check(mdb_reader_check(handle, &dead), "mdb_reader_check")
        return Int(dead)
    }

    /// Opens or creates a named database; call at start-up, inside `write`.
    public func openDatabase(_ name: String, flags: LMDBDatabase.Flags = [], in txn: borrowing LMDBTransaction) throws(LMDBError) -> LMDBDatabase {
        var dbi: MDB_dbi = 0
        try check(mdb_dbi_open(txn.handle, name, flags.rawValue | UInt32(MDB_CREATE), &dbi), "mdb_dbi_open(\(name))")
        return LMDBDatabase(dbi: dbi)
    }

    /// Runs `body` in a read-only snapshot of the store; it never waits for writers.
    @inlinable
    public func read<T, E: LMDBErrorConvertible>(_ body: (borrowing LMDBTransaction) throws(E) -> T) throws(E) -> T {
        var txn: OpaquePointer?
        do throws(LMDBError) {
            try check(mdb_txn_begin(handle, nil, UInt32(MDB_RDONLY), &txn), "mdb_txn_begin(read)")
        } catch {
            throw E(lmdb: error)
        }
        let transaction = LMDBTransaction(handle: txn!)
        defer { mdb_txn_abort(transaction.handle) }
        return try body(transaction)
    }

    /// Runs `body` in the one write transaction of all processes: committed if it returns (with
    /// `durability`), discarded if it throws.
    @inlinable
    public func write<T, E: LMDBErrorConvertible>(
        _ durability: Durability = .durable, _ body: (borrowing LMDBTransaction) throws(E) -> T
    ) throws(E) -> T {
        let outcome = writer.sync { () -> Result<T, E> in
            Result { () throws(E) -> T in try writeOnQueue(durability, body) }
        }
        return try outcome.get()
    }

    @inlinable
    func writeOnQueue<T, E: LMDBErrorConvertible>(
        _ durability: Durability, _ body: (borrowing LMDBTransaction) throws(E) -> T
    ) throws(E) -> T {
        // The flag is read when the transaction begins and when it commits; only this queue changes it.
        let crashSafe = durability == .processCrashSafe
        if crashSafe { mdb_env_set_flags(handle, UInt32(MDB_NOMETASYNC), 1) }
        defer { if crashSafe { mdb_env_set_flags(handle, UInt32(MDB_NOMETASYNC), 0) } }
        var txn: OpaquePointer?
        do throws(LMDBError) {
            try check(mdb_txn_begin(handle, nil, 0, &txn), "mdb_txn_begin(write)")
        } catch {
            throw E(lmdb: error)
        }
        let transaction = LMDBTransaction(handle: txn!)
        let result: T
        do throws(E) {
            result = try body(transaction)
        } catch {
            mdb_txn_abort(transaction.handle)
            throw error
        }
        do throws(LMDBError) {
            try check(mdb_txn_commit(transaction.handle), "mdb_txn_commit")
        } catch {
            throw E(lmdb: error)
        }
        return result
    }

    /// Bytes used by the store's pages and the map's size.
    public func spaceUsage() throws(LMDBError) -> (used: Int64, total: Int64) {
        var info = MDB_envinfo()
        var stat = MDB_stat()
        try check(mdb_env_info(handle, &info), "mdb_env_info")
        try check(mdb_env_stat(handle, &stat), "mdb_env_stat")
        return (Int64(info.me_last_pgno + 1) * Int64(stat.ms_psize), Int64(info.me_mapsize))
    }
}

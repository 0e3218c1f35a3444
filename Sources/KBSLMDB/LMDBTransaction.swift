import CLMDB

/// A named database in an environment.
public struct LMDBDatabase: Sendable, Equatable {
    @usableFromInline let dbi: MDB_dbi

    public struct Flags: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// Several sorted values per key.
        public static let duplicateSort = Flags(rawValue: UInt32(MDB_DUPSORT))
        /// With `duplicateSort`: every value has the same size.
        public static let duplicateFixed = Flags(rawValue: UInt32(MDB_DUPFIXED))
    }
}

/// One LMDB transaction, valid only inside the `read`/`write` call that made it.
/// Byte buffers it returns point into the map and die with it.
public struct LMDBTransaction: ~Copyable {
    @usableFromInline let handle: OpaquePointer

    @usableFromInline init(handle: OpaquePointer) { self.handle = handle }

    /// The same transaction, for a wrapper type that confines it to the same scope.
    @inlinable
    public init(wrapping other: borrowing LMDBTransaction) { handle = other.handle }

    @inlinable
    public func get(_ db: LMDBDatabase, _ key: UnsafeRawBufferPointer) throws(LMDBError) -> UnsafeRawBufferPointer? {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val()
        let rc = mdb_get(handle, db.dbi, &k, &v)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc, "mdb_get")
        return UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
    }

    @inlinable
    public func put(_ db: LMDBDatabase, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(LMDBError) {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try check(mdb_put(handle, db.dbi, &k, &v, 0), "mdb_put")
    }

    /// Deletes `key` (only the `value` duplicate when given). Returns false when it was absent.
    @inlinable @discardableResult
    public func delete(_ db: LMDBDatabase, _ key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer? = nil) throws(LMDBError) -> Bool {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        let rc: Int32
        if let value {
            var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
            rc = mdb_del(handle, db.dbi, &k, &v)
        } else {
            rc = mdb_del(handle, db.dbi, &k, nil)
        }
        if rc == MDB_NOTFOUND { return false }
        try check(rc, "mdb_del")
        return true
    }

    /// Removes every entry of a database.
    public func clear(_ db: LMDBDatabase) throws(LMDBError) {
        try check(mdb_drop(handle, db.dbi, 0), "mdb_drop")
    }

    /// Visits entries in key order from the first key >= `start` (or the first key), or, with
    /// `duplicatesOf`, every value stored under exactly that key. `body` returns false to stop.
    @inlinable
    public func scan<E: LMDBErrorConvertible>(
        _ db: LMDBDatabase, from start: UnsafeRawBufferPointer? = nil, duplicatesOf exactKey: Bool = false,
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(E) -> Bool
    ) throws(E) {
        var cursor: OpaquePointer?
        do throws(LMDBError) {
            try check(mdb_cursor_open(handle, db.dbi, &cursor), "mdb_cursor_open")
        } catch {
            throw E(lmdb: error)
        }
        defer { mdb_cursor_close(cursor) }
        var k = MDB_val()
        var v = MDB_val()
        var op: MDB_cursor_op
        if let start {
            k = MDB_val(mv_size: start.count, mv_data: UnsafeMutableRawPointer(mutating: start.baseAddress))
            op = exactKey ? MDB_SET_KEY : MDB_SET_RANGE
        } else {
            op = MDB_FIRST
        }
        let next = exactKey ? MDB_NEXT_DUP : MDB_NEXT
        while true {
            let rc = mdb_cursor_get(cursor, &k, &v, op)
            if rc == MDB_NOTFOUND { return }
            do throws(LMDBError) {
                try check(rc, "mdb_cursor_get")
            } catch {
                throw E(lmdb: error)
            }
            let more = try body(UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size),
                                UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
            if !more { return }
            op = next
        }
    }

    /// Number of entries in a database.
    @inlinable
    public func count(_ db: LMDBDatabase) throws(LMDBError) -> Int {
        var stat = MDB_stat()
        try check(mdb_stat(handle, db.dbi, &stat), "mdb_stat")
        return stat.ms_entries
    }
}

@available(*, unavailable, message: "LMDB transactions are confined to the call that opened them")
extension LMDBTransaction: Sendable {}

import CLMDB

/// One LMDB transaction, valid only inside the `read`/`write` call that made it.
/// Byte buffers it returns point into the map and die with it.
struct LMDBTransaction: ~Copyable {
    let handle: OpaquePointer

    func get(_ dbi: MDB_dbi, _ key: UnsafeRawBufferPointer) throws(StorageError) -> UnsafeRawBufferPointer? {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val()
        let rc = mdb_get(handle, dbi, &k, &v)
        if rc == MDB_NOTFOUND { return nil }
        try lmdb(rc, "mdb_get")
        return UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
    }

    func put(_ dbi: MDB_dbi, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, flags: Int32 = 0) throws(StorageError) {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try lmdb(mdb_put(handle, dbi, &k, &v, UInt32(flags)), "mdb_put")
    }

    /// Deletes `key` (only the `value` duplicate when given). Returns false when it was absent.
    @discardableResult
    func delete(_ dbi: MDB_dbi, _ key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer? = nil) throws(StorageError) -> Bool {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        let rc: Int32
        if let value {
            var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
            rc = mdb_del(handle, dbi, &k, &v)
        } else {
            rc = mdb_del(handle, dbi, &k, nil)
        }
        if rc == MDB_NOTFOUND { return false }
        try lmdb(rc, "mdb_del")
        return true
    }

    /// Visits entries in key order starting at the first key >= `from` (or the first key),
    /// or, with `duplicatesOf`, every value stored under that exact key. `body` returns false to stop.
    func scan(
        _ dbi: MDB_dbi,
        from start: UnsafeRawBufferPointer? = nil,
        duplicatesOf exactKey: Bool = false,
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(StorageError) -> Bool
    ) throws(StorageError) {
        var cursor: OpaquePointer?
        try lmdb(mdb_cursor_open(handle, dbi, &cursor), "mdb_cursor_open")
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
            try lmdb(rc, "mdb_cursor_get")
            let more = try body(UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size),
                                UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
            if !more { return }
            op = next
        }
    }

    /// Number of entries in a database.
    func count(_ dbi: MDB_dbi) throws(StorageError) -> Int {
        var stat = MDB_stat()
        try lmdb(mdb_stat(handle, dbi, &stat), "mdb_stat")
        return stat.ms_entries
    }
}

@available(*, unavailable, message: "LMDB transactions are confined to the call that opened them")
extension LMDBTransaction: Sendable {}

import KBSLMDB

/// Id allocators, the pool record and small values of the meta database.
extension GraphTransaction {
    /// Next snapshot id; ids are never reused.
    func allocateSnapshotID() throws(StorageError) -> UInt64 {
        let next = (try metaInteger("nextSnapshotID", as: UInt64.self) ?? 1)
        try setMetaInteger("nextSnapshotID", next + 1)
        return next
    }

    /// Largest device id: dm-thin device ids are 24-bit.
    static let maxDeviceID: UInt32 = (1 << 24) - 1

    /// Next free 24-bit device id, wrapping around and skipping ids still in use. Ids go up
    /// monotonically until the wrap, so an id is not handed out again soon after it is freed.
    func allocateDeviceID() throws(StorageError) -> UInt32 {
        var candidate = try metaInteger("nextDeviceID", as: UInt32.self) ?? 1
        for _ in 0..<GraphTransaction.maxDeviceID {
            if candidate == 0 || candidate > GraphTransaction.maxDeviceID { candidate = 1 }
            if try device(id: candidate) == nil {
                try setMetaInteger("nextDeviceID", candidate + 1)
                return candidate
            }
            candidate += 1
        }
        throw StorageError(.noSpace, "all \(GraphTransaction.maxDeviceID) device ids are in use", remedy: .freeSpace)
    }

    /// Records the backend's metadata generation (the thin-pool's transaction id) reached by a
    /// change; the stored value only goes up, so it is never ahead of the pool.
    func recordGeneration(_ generation: UInt64?) throws(StorageError) {
        guard let generation else { return }
        if let stored = try metaInteger("backendGeneration", as: UInt64.self), stored >= generation { return }
        try setMetaInteger("backendGeneration", generation)
    }

    func pool() throws(StorageError) -> PoolRecord? {
        try withMeta("pool") { (raw) throws(StorageError) in try PoolRecord(decoding: raw) }
    }

    func setPool(_ record: PoolRecord) throws(StorageError) { try setMeta("pool", record.encoded()) }

    func metaInteger<T: FixedWidthInteger>(_ name: String, as: T.Type) throws(StorageError) -> T? {
        try withMeta(name) { (raw) throws(StorageError) -> T? in
            raw.count == MemoryLayout<T>.size ? T(littleEndian: raw.loadUnaligned(as: T.self)) : nil
        } ?? nil
    }

    func setMetaInteger<T: FixedWidthInteger>(_ name: String, _ value: T) throws(StorageError) {
        try setMeta(name, withUnsafeBytes(of: value.littleEndian) { Array($0) })
    }

    func metaString(_ name: String) throws(StorageError) -> String? {
        try withMeta(name) { (raw) throws(StorageError) in String(decoding: raw, as: UTF8.self) }
    }

    func setMetaString(_ name: String, _ value: String) throws(StorageError) { try setMeta(name, Array(value.utf8)) }

    func metaLabels(_ name: String) throws(StorageError) -> [String: String]? {
        try withMeta(name) { (raw) throws(StorageError) in
            var r = RecordReader(raw, what: name)
            return try r.readLabels()
        }
    }

    func deleteMeta(_ name: String) throws(StorageError) {
        try withKey(Array(name.utf8)) { (key) throws(StorageError) in _ = try db { () throws(LMDBError) in try lmdb.delete(store.meta, key) } }
    }

    private func withMeta<T>(_ name: String, _ body: (UnsafeRawBufferPointer) throws(StorageError) -> T) throws(StorageError) -> T? {
        try withKey(Array(name.utf8)) { (key) throws(StorageError) -> T? in
            guard let raw = try db({ () throws(LMDBError) in try lmdb.get(store.meta, key) }) else { return nil }
            return try body(raw)
        }
    }

    private func setMeta(_ name: String, _ bytes: [UInt8]) throws(StorageError) {
        try withKey(Array(name.utf8)) { (key) throws(StorageError) in
            try withKey(bytes) { (raw) throws(StorageError) in try db { () throws(LMDBError) in try lmdb.put(store.meta, key, raw) } }
        }
    }
}

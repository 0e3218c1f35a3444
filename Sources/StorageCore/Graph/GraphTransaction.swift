import KBSLMDB

/// Typed reads and writes of graph records inside one transaction.
struct GraphTransaction: ~Copyable {
    let lmdb: LMDBTransaction
    let store: GraphStore

    /// Runs one LMDB call, turning its failure into an engine error.
    func db<T>(_ body: () throws(LMDBError) -> T) throws(StorageError) -> T {
        do throws(LMDBError) {
            return try body()
        } catch {
            throw StorageError(lmdb: error)
        }
    }

    // MARK: snapshots

    func snapshot(id: UInt64) throws(StorageError) -> SnapshotRecord? {
        guard id != 0 else { return nil }
        return try withKey(id) { (key) throws(StorageError) -> SnapshotRecord? in
            guard let raw = try db({ () throws(LMDBError) in try lmdb.get(store.snapshots, key) }) else { return nil }
            return try SnapshotRecord(decoding: raw)
        }
    }

    /// The snapshot with exactly this name (key or committed name) in `namespace`, if any.
    func snapshot(named name: String, in namespace: String) throws(StorageError) -> SnapshotRecord? {
        var found: SnapshotRecord?
        let key = GraphStore.nameKey(namespace, name)
        // A key that is not hashed is the namespace and name themselves: its entry is the one.
        let exact = key.count == namespace.utf8.count + 1 + name.utf8.count
        try withKey(key) { (k) throws(StorageError) in
            try lmdb.scan(store.names, from: k, duplicatesOf: true) { (_, value) throws(StorageError) -> Bool in
                guard let record = try snapshot(id: decodeBigEndianID(value)) else {
                    throw StorageError.inconsistent("the name index points at a missing snapshot")
                }
                if exact || (record.name == name && record.namespace == namespace) {
                    found = record
                    return false
                }
                return true
            }
        }
        return found
    }

    func putSnapshot(_ record: SnapshotRecord) throws(StorageError) {
        let bytes = record.encoded()
        try withKey(record.id) { (key) throws(StorageError) in
            try withKey(bytes) { (value) throws(StorageError) in try db { () throws(LMDBError) in try lmdb.put(store.snapshots, key, value) } }
        }
    }

    /// Adds a snapshot with its name and parent links.
    func insertSnapshot(_ record: SnapshotRecord) throws(StorageError) {
        try putSnapshot(record)
        try indexName(record.namespace, record.name, id: record.id)
        if record.parentID != 0 { try linkChild(record.id, of: record.parentID) }
    }

    /// Removes a snapshot with its name and parent links.
    func deleteSnapshot(_ record: SnapshotRecord) throws(StorageError) {
        try withKey(record.id) { (key) throws(StorageError) in _ = try db { () throws(LMDBError) in try lmdb.delete(store.snapshots, key) } }
        try unindexName(record.namespace, record.name, id: record.id)
        if record.parentID != 0 { try unlinkChild(record.id, of: record.parentID) }
    }

    func indexName(_ namespace: String, _ name: String, id: UInt64) throws(StorageError) {
        try withKey(GraphStore.nameKey(namespace, name)) { (key) throws(StorageError) in
            try withKey(id) { (value) throws(StorageError) in try db { () throws(LMDBError) in try lmdb.put(store.names, key, value) } }
        }
    }

    func unindexName(_ namespace: String, _ name: String, id: UInt64) throws(StorageError) {
        try withKey(GraphStore.nameKey(namespace, name)) { (key) throws(StorageError) in
            try withKey(id) { (value) throws(StorageError) in
                _ = try db { () throws(LMDBError) in try lmdb.delete(store.names, key, value: value) }
            }
        }
    }

    // MARK: children index: key = parent id ++ child id

    private func childKey(_ child: UInt64, _ parent: UInt64) -> [UInt8] {
        var key = [UInt8]()
        key.reserveCapacity(16)
        withUnsafeBytes(of: parent.bigEndian) { key.append(contentsOf: $0) }
        withUnsafeBytes(of: child.bigEndian) { key.append(contentsOf: $0) }
        return key
    }

    func linkChild(_ child: UInt64, of parent: UInt64) throws(StorageError) {
        try withKey(childKey(child, parent)) { (key) throws(StorageError) in
            try db { () throws(LMDBError) in try lmdb.put(store.children, key, UnsafeRawBufferPointer(start: nil, count: 0)) }
        }
    }

    func unlinkChild(_ child: UInt64, of parent: UInt64) throws(StorageError) {
        try withKey(childKey(child, parent)) { (key) throws(StorageError) in _ = try db { () throws(LMDBError) in try lmdb.delete(store.children, key) } }
    }

    /// Ids of the snapshots whose parent is `parent`, at most `limit`.
    func children(of parent: UInt64, limit: Int = .max) throws(StorageError) -> [UInt64] {
        var ids: [UInt64] = []
        try withKey(childKey(0, parent)) { (start) throws(StorageError) in
            try lmdb.scan(store.children, from: start) { (key, _) throws(StorageError) -> Bool in
                guard key.count == 16, decodeBigEndianID(key) == parent else { return false }
                ids.append(decodeBigEndianID(key, at: 8))
                return ids.count < limit
            }
        }
        return ids
    }

    func forEachSnapshot(_ body: (SnapshotRecord) throws(StorageError) -> Bool) throws(StorageError) {
        try lmdb.scan(store.snapshots) { (_, value) throws(StorageError) -> Bool in
            try body(try SnapshotRecord(decoding: value))
        }
    }

    func snapshotCount() throws(StorageError) -> Int { try db { () throws(LMDBError) in try lmdb.count(store.snapshots) } }
}

@available(*, unavailable, message: "graph transactions are confined to the call that opened them")
extension GraphTransaction: Sendable {}

import CLMDB

/// Typed reads and writes of graph records inside one transaction.
struct GraphTransaction: ~Copyable {
    let lmdb: LMDBTransaction
    let store: GraphStore

    // MARK: snapshots

    func snapshot(id: UInt64) throws(StorageError) -> SnapshotRecord? {
        guard id != 0 else { return nil }
        return try withKey(id) { (key) throws(StorageError) -> SnapshotRecord? in
            guard let raw = try lmdb.get(store.snapshots, key) else { return nil }
            return try SnapshotRecord(decoding: raw)
        }
    }

    /// The snapshot with exactly this name (key or committed name), if any.
    func snapshot(named name: String) throws(StorageError) -> SnapshotRecord? {
        var found: SnapshotRecord?
        let key = GraphStore.nameKey(name)
        let inline = key.count == name.utf8.count
        try withKey(key) { (k) throws(StorageError) in
            try lmdb.scan(store.names, from: k, duplicatesOf: true) { (_, value) throws(StorageError) -> Bool in
                guard let record = try snapshot(id: decodeBigEndianID(value)) else {
                    throw StorageError(.internal, "name index points at a missing snapshot; run `snapctl fsck`")
                }
                if inline || record.name == name {
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
            try withKey(bytes) { (value) throws(StorageError) in try lmdb.put(store.snapshots, key, value) }
        }
    }

    /// Adds a snapshot with its name and parent links.
    func insertSnapshot(_ record: SnapshotRecord) throws(StorageError) {
        try putSnapshot(record)
        try indexName(record.name, id: record.id)
        if record.parentID != 0 { try linkChild(record.id, of: record.parentID) }
    }

    /// Removes a snapshot with its name and parent links.
    func deleteSnapshot(_ record: SnapshotRecord) throws(StorageError) {
        try withKey(record.id) { (key) throws(StorageError) in _ = try lmdb.delete(store.snapshots, key) }
        try unindexName(record.name, id: record.id)
        if record.parentID != 0 { try unlinkChild(record.id, of: record.parentID) }
    }

    func indexName(_ name: String, id: UInt64) throws(StorageError) {
        try withKey(GraphStore.nameKey(name)) { (key) throws(StorageError) in
            try withKey(id) { (value) throws(StorageError) in try lmdb.put(store.names, key, value) }
        }
    }

    func unindexName(_ name: String, id: UInt64) throws(StorageError) {
        try withKey(GraphStore.nameKey(name)) { (key) throws(StorageError) in
            try withKey(id) { (value) throws(StorageError) in _ = try lmdb.delete(store.names, key, value: value) }
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
            try lmdb.put(store.children, key, UnsafeRawBufferPointer(start: nil, count: 0))
        }
    }

    func unlinkChild(_ child: UInt64, of parent: UInt64) throws(StorageError) {
        try withKey(childKey(child, parent)) { (key) throws(StorageError) in _ = try lmdb.delete(store.children, key) }
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

    func snapshotCount() throws(StorageError) -> Int { try lmdb.count(store.snapshots) }

    // MARK: devices

    func device(id: UInt32) throws(StorageError) -> DeviceRecord? {
        guard id != 0 else { return nil }
        return try withKey(UInt64(id)) { (key) throws(StorageError) -> DeviceRecord? in
            guard let raw = try lmdb.get(store.devices, key) else { return nil }
            return try DeviceRecord(decoding: raw)
        }
    }

    func putDevice(_ record: DeviceRecord) throws(StorageError) {
        let bytes = record.encoded()
        try withKey(UInt64(record.id)) { (key) throws(StorageError) in
            try withKey(bytes) { (value) throws(StorageError) in try lmdb.put(store.devices, key, value) }
        }
    }

    func deleteDevice(id: UInt32) throws(StorageError) {
        try withKey(UInt64(id)) { (key) throws(StorageError) in _ = try lmdb.delete(store.devices, key) }
    }

    func forEachDevice(_ body: (DeviceRecord) throws(StorageError) -> Bool) throws(StorageError) {
        try lmdb.scan(store.devices) { (_, value) throws(StorageError) -> Bool in
            try body(try DeviceRecord(decoding: value))
        }
    }

    func allDevices() throws(StorageError) -> [DeviceRecord] {
        var all: [DeviceRecord] = []
        try forEachDevice { all.append($0); return true }
        return all
    }

    // MARK: allocators and metadata

    /// Next snapshot id; ids are never reused.
    func allocateSnapshotID() throws(StorageError) -> UInt64 {
        let next = (try metaInteger("nextSnapshotID", as: UInt64.self) ?? 1)
        try setMetaInteger("nextSnapshotID", next + 1)
        return next
    }

    /// Largest device id: dm-thin device ids are 24-bit.
    static let maxDeviceID: UInt32 = (1 << 24) - 1

    /// Next free 24-bit device id, wrapping around and skipping ids still in use.
    /// Stores the backend's metadata generation (thin-pool transaction id), checked at the next open.
    func recordGeneration(of backend: any BlockBackend) throws(StorageError) {
        if let generation = backend.generation { try setMetaInteger("backendGeneration", generation) }
    }

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
        throw StorageError(.noSpace, "all \(GraphTransaction.maxDeviceID) device ids are in use; remove snapshots")
    }

    func metaInteger<T: FixedWidthInteger>(_ name: String, as: T.Type) throws(StorageError) -> T? {
        try withKey(Array(name.utf8)) { (key) throws(StorageError) -> T? in
            guard let raw = try lmdb.get(store.meta, key), raw.count == MemoryLayout<T>.size else { return nil }
            return T(littleEndian: raw.loadUnaligned(as: T.self))
        }
    }

    func setMetaInteger<T: FixedWidthInteger>(_ name: String, _ value: T) throws(StorageError) {
        try withKey(Array(name.utf8)) { (key) throws(StorageError) in
            let bytes = withUnsafeBytes(of: value.littleEndian) { Array($0) }
            try withKey(bytes) { (raw) throws(StorageError) in try lmdb.put(store.meta, key, raw) }
        }
    }

    func metaLabels(_ name: String) throws(StorageError) -> [String: String]? {
        try withKey(Array(name.utf8)) { (key) throws(StorageError) -> [String: String]? in
            guard let raw = try lmdb.get(store.meta, key) else { return nil }
            var r = RecordReader(raw, what: name)
            return try r.readLabels()
        }
    }

    func setMetaLabels(_ name: String, _ labels: [String: String]) throws(StorageError) {
        var w = RecordWriter()
        w.write(labels)
        let bytes = w.bytes
        try withKey(Array(name.utf8)) { (key) throws(StorageError) in
            try withKey(bytes) { (raw) throws(StorageError) in try lmdb.put(store.meta, key, raw) }
        }
    }
}

@available(*, unavailable, message: "graph transactions are confined to the call that opened them")
extension GraphTransaction: Sendable {}

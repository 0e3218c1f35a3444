import KBSLMDB

/// Device records and the index of those in a trying state.
extension GraphTransaction {
    func device(id: UInt32) throws(StorageError) -> DeviceRecord? {
        guard id != 0 else { return nil }
        return try withKey(UInt64(id)) { (key) throws(StorageError) -> DeviceRecord? in
            guard let raw = try db({ () throws(LMDBError) in try lmdb.get(store.devices, key) }) else { return nil }
            return try DeviceRecord(decoding: raw)
        }
    }

    /// Stores the device and keeps the pending index in step with its state.
    func putDevice(_ record: DeviceRecord) throws(StorageError) {
        let bytes = record.encoded()
        try withKey(UInt64(record.id)) { (key) throws(StorageError) in
            try withKey(bytes) { (value) throws(StorageError) in try db { () throws(LMDBError) in try lmdb.put(store.devices, key, value) } }
            if record.state.isTrying {
                try db { () throws(LMDBError) in try lmdb.put(store.pending, key, UnsafeRawBufferPointer(start: nil, count: 0)) }
            } else {
                _ = try db { () throws(LMDBError) in try lmdb.delete(store.pending, key) }
            }
        }
    }

    func deleteDevice(id: UInt32) throws(StorageError) {
        try withKey(UInt64(id)) { (key) throws(StorageError) in
            _ = try db { () throws(LMDBError) in try lmdb.delete(store.devices, key) }
            _ = try db { () throws(LMDBError) in try lmdb.delete(store.pending, key) }
        }
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

    /// Devices in a trying state: in flight somewhere, queued for the reaper, or left by a crash.
    func pendingDevices() throws(StorageError) -> [DeviceRecord] {
        var ids: [UInt32] = []
        try lmdb.scan(store.pending) { (key, _) throws(StorageError) -> Bool in
            if key.count == 8 { ids.append(UInt32(truncatingIfNeeded: decodeBigEndianID(key))) }
            return true
        }
        var found: [DeviceRecord] = []
        for id in ids {
            if let device = try device(id: id) { found.append(device) }
        }
        return found
    }
}

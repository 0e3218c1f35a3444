/// Attaching and detaching devices through the persisted state machine.
extension StorageEngine {
    /// Attaches a detached device: "activating" is stored first, then "active" with its path,
    /// or the previous state again if the backend refuses.
    func activate(_ id: UInt32, readOnly: Bool? = nil) throws(StorageError) -> DeviceRecord {
        let before = try store.write { (txn) throws(StorageError) -> DeviceRecord in
            guard var device = try txn.device(id: id) else { throw StorageError(.notFound, "device \(id) does not exist") }
            if device.state == .active { return device }
            let before = device
            guard device.state.canMove(to: .activating) else {
                throw StorageError(.failedPrecondition, "device \(id) is \(device.state) and cannot be attached now; retry, or run `snapctl fsck`")
            }
            try device.move(to: .activating)
            try txn.putDevice(device)
            return before
        }
        if before.state == .active { return before }
        let path: String
        do throws(StorageError) {
            path = try backend.activate(id, size: before.sizeBytes, readOnly: readOnly ?? before.readOnly)
        } catch {
            try? store.write { (txn) throws(StorageError) in try txn.putDevice(before) }
            throw error
        }
        return try store.write { (txn) throws(StorageError) -> DeviceRecord in
            guard var device = try txn.device(id: id) else { throw StorageError(.notFound, "device \(id) vanished while attaching") }
            try device.move(to: .active, path: path)
            try txn.putDevice(device)
            return device
        }
    }

    /// Detaches an attached device: "deactivating" first, then "inactive", or "active" again if the backend refuses.
    func deactivate(_ id: UInt32) throws(StorageError) {
        let device = try store.write { (txn) throws(StorageError) -> DeviceRecord? in
            guard var device = try txn.device(id: id), device.state == .active else { return nil }
            try device.move(to: .deactivating)
            try txn.putDevice(device)
            return device
        }
        guard let device else { return }
        let deferred = try detachMarked(device)
        try store.write { (txn) throws(StorageError) in
            var done = device
            try done.move(to: .inactive, path: deferred ? device.path : nil)
            try txn.putDevice(done)
        }
    }

    /// Runs the backend detach for a device already stored as "deactivating"; if the backend
    /// refuses, stores it as "active" again and rethrows. Returns whether the detach is deferred.
    func detachMarked(_ device: DeviceRecord) throws(StorageError) -> Bool {
        do throws(StorageError) {
            return try backend.deactivate(device.id, path: device.path)
        } catch {
            try? store.write { (txn) throws(StorageError) in
                var back = device
                try back.move(to: .active)
                try txn.putDevice(back)
            }
            throw error
        }
    }
}

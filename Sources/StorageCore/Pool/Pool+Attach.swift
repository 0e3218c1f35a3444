import KBSSystem

/// Attaching and detaching devices, and attaching outside a snapshot's own calls (after a reboot,
/// in recovery).
extension Pool {
    /// Every attach and detach of a device, every host mount and unmount of its filesystem, and
    /// every clone taken from it, holds that device's lock (level 2 of the lock order in
    /// `Pool.swift`), in whichever process makes it; one device's lock at a time, never taken
    /// twice (the lock is per descriptor: a second take waits for the first). A clone of an
    /// attached origin suspends it, freezing its filesystem, and resumes it: a detach in between
    /// (the origin's last Put in another thread, a commit, the removal of a template) would leave
    /// it gone under the resume, and a mount in between is refused. The trying states cannot say
    /// this: many clones of one layer run at once, and none of them moves the layer's record.
    func withDeviceLock<T>(_ id: UInt32, _ body: () throws(StorageError) -> T) throws(StorageError) -> T {
        try FileLock.withExclusive("\(Self.metadataDirectory(stateDirectory))/devices.lock", slot: id, mapError: { (error) -> StorageError in
            StorageError(error, "cannot lock device \(id)")
        }, body)
    }

    func attachDevice(_ id: UInt32, size: UInt64, readOnly: Bool) throws(StorageError) -> String {
        try withDeviceLock(id) { () throws(StorageError) in try backend.activate(id, size: size, readOnly: readOnly) }
    }

    /// Whether the device is still open elsewhere (its removal deferred to the last close).
    @discardableResult
    func detachDevice(_ id: UInt32, path: String) throws(StorageError) -> Bool {
        try withDeviceLock(id) { () throws(StorageError) in try backend.deactivate(id, path: path) }
    }

    func cloneDevice(_ id: UInt32, from origin: UInt32, originPath: String?) throws(StorageError) {
        try withDeviceLock(origin) { () throws(StorageError) in try backend.snapshotDevice(id, from: origin, originPath: originPath) }
    }

    /// Detaches `device` if it is attached, and deletes it.
    func detachAndDelete(_ device: DeviceRecord) throws(StorageError) {
        if let path = try attachedPath(of: device) { try detachDevice(device.id, path: path) }
        try backend.deleteDevice(device.id)
    }

    /// Where `device` is attached: at its recorded path when it is there (one look at that device),
    /// else wherever the backend finds it (a look at every device).
    func attachedPath(of device: DeviceRecord) throws(StorageError) -> String? {
        if !device.path.isEmpty, try backend.isAttached(device.id, at: device.path) { return device.path }
        return try backend.attachedPath(of: device.id)
    }

    private struct AttachPlan: TransitionPlan {
        var device: DeviceRecord
        var previous: DeviceRecord
        var moving: [DeviceRecord] { previous.state == .active ? [] : [device] }
    }

    /// Attaches device `id` if it is not attached; returns its record with the path.
    @discardableResult
    func activate(_ id: UInt32) throws(StorageError) -> DeviceRecord {
        try transition("attach", trying: .processCrashSafe, outcome: .processCrashSafe) { (txn) throws(StorageError) -> AttachPlan in
            guard let previous = try txn.device(id: id) else { throw StorageError(.notFound, "device \(id) does not exist") }
            try requireSettled(previous)
            if previous.state == .active { return AttachPlan(device: previous, previous: previous) }
            var device = previous
            guard device.state.canMove(to: .activating) else {
                throw StorageError(.failedPrecondition, "device \(id) is \(device.state) and cannot be attached now", remedy: .checkPool)
            }
            try device.move(to: .activating)
            return AttachPlan(device: device, previous: previous)
        } work: { (plan) throws(StorageError) -> DeviceRecord in
            guard plan.previous.state != .active else { return plan.previous }
            var attached = plan.device
            try attached.move(to: .active, path: try attachDevice(id, size: plan.device.sizeBytes, readOnly: plan.device.readOnly))
            return attached
        } finish: { (plan, attached, txn) throws(StorageError) in
            if plan.previous.state != .active { try txn.putDevice(attached) }
        } revert: { (plan) throws(StorageError) -> AttachPlan in
            if plan.previous.state != .active, let path = try backend.attachedPath(of: id) { try detachDevice(id, path: path) }
            return plan
        } restore: { (plan, txn) throws(StorageError) in
            try txn.putDevice(plan.previous)
        }
    }
}

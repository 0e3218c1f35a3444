/// Attaching and detaching devices outside a snapshot's own calls: after a reboot, in recovery.
extension Pool {
    /// Detaches `device` if it is attached, and deletes it.
    func detachAndDelete(_ device: DeviceRecord) throws(StorageError) {
        if let path = try attachedPath(of: device) { try backend.deactivate(device.id, path: path) }
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
            try attached.move(to: .active, path: try backend.activate(id, size: plan.device.sizeBytes, readOnly: plan.device.readOnly))
            return attached
        } finish: { (plan, attached, txn) throws(StorageError) in
            if plan.previous.state != .active { try txn.putDevice(attached) }
        } revert: { (plan) throws(StorageError) -> AttachPlan in
            if plan.previous.state != .active, let path = try backend.attachedPath(of: id) { try backend.deactivate(id, path: path) }
            return plan
        } restore: { (plan, txn) throws(StorageError) in
            try txn.putDevice(plan.previous)
        }
    }
}

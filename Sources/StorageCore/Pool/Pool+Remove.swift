import KBSSystem

/// Removing snapshots and deleting their devices, now or through the reaper.
extension Pool {
    private struct RemovePlan: TransitionPlan {
        var snapshot: SnapshotRecord
        var device: DeviceRecord
        var previous: DeviceRecord
        /// containerd's async remove: the snapshot goes in step 1 and the reaper deletes the device.
        var queued: Bool
        var moving: [DeviceRecord] { queued ? [] : [device] }
    }

    private enum Deletion {
        case deleted
        /// Still open by its last user (a thin device whose removal the kernel deferred): queued.
        case queued
    }

    /// Removes `key` and deletes its device. Refused while it has children or is mounted. With
    /// `deferDeviceDeletion` the snapshot is gone on return and `reapQueuedDevices` deletes the device.
    func remove(_ key: String, in namespace: String, deferDeviceDeletion: Bool) throws(StorageError) {
        try validateName(key, "snapshot key")
        // The "removing" mark is durable and recovery finishes a removal forwards, so its outcome
        // need not be: a power loss that undoes it leaves the mark, and the removal is finished.
        try transition("remove", trying: .durable, outcome: .processCrashSafe) { (txn) throws(StorageError) -> RemovePlan in
            let snapshot = try requireSnapshot(key, in: namespace, txn)
            if !(try txn.children(of: snapshot.id, limit: 1)).isEmpty {
                throw StorageError(.failedPrecondition, "snapshot \(StorageError.quoted(key)) has children; remove them first")
            }
            let previous = try requireDevice(of: snapshot, txn)
            try requireSettled(previous)
            if previous.hostMount != nil {
                throw StorageError(.busy, "snapshot \(StorageError.quoted(key)) is mounted on the host", remedy: .release)
            }
            guard previous.state.canMove(to: .removing) else {
                throw StorageError(.failedPrecondition, "the device of \(StorageError.quoted(key)) is \(previous.state)", remedy: .checkPool)
            }
            var device = previous
            try device.move(to: .removing)
            if deferDeviceDeletion {
                try txn.deleteSnapshot(snapshot)
                try txn.putDevice(device)  // no owner: queued for the reaper
            }
            return RemovePlan(snapshot: snapshot, device: device, previous: previous, queued: deferDeviceDeletion)
        } work: { (plan) throws(StorageError) -> Deletion in
            guard !plan.queued else { return .queued }
            CrashPoint.removeAfterMark.hit()
            if !plan.device.path.isEmpty { try detachDevice(plan.device.id, path: plan.device.path) }
            CrashPoint.removeAfterDetach.hit()
            do throws(StorageError) {
                try backend.deleteDevice(plan.device.id)
            } catch where error.code == .busy {
                return .queued
            }
            CrashPoint.removeAfterDelete.hit()
            return .deleted
        } finish: { (plan, deletion, txn) throws(StorageError) in
            guard !plan.queued else { return }
            try txn.deleteSnapshot(plan.snapshot)
            switch deletion {
            case .deleted: try txn.deleteDevice(id: plan.device.id)
            case .queued: try txn.putDevice(plan.device)  // the reaper deletes it once its user lets go
            }
        } revert: { (plan) throws(StorageError) -> RemovePlan in
            try reattachIfDetached(plan.previous).map { RemovePlan(snapshot: plan.snapshot, device: plan.device, previous: $0, queued: false) } ?? plan
        } restore: { (plan, txn) throws(StorageError) in
            try txn.putDevice(plan.previous)
        }
        logger.debug("snapshot removed", metadata: ["namespace": "\(namespace)", "key": "\(StorageError.quoted(key))"])
    }

    private struct ReapPlan: TransitionPlan {
        var device: DeviceRecord
        var moving: [DeviceRecord] { [device] }
    }

    /// Detaches and deletes every device queued for deletion; returns how many went.
    @discardableResult
    func reapQueuedDevices() throws(StorageError) -> Int {
        let queued = try store.read { (txn) throws(StorageError) -> [DeviceRecord] in
            try txn.pendingDevices().filter { $0.state == .removing && $0.owner == nil }
        }
        var deleted = 0
        for device in queued {
            try backend.discardBlocks(of: device.id)
            if try deleteDevice(device.id, claim: .leftBy(nil)) { deleted += 1 }
        }
        if deleted > 0 { logger.debug("deleted devices of removed snapshots", metadata: ["count": "\(deleted)"]) }
        return deleted
    }

    /// Which device a deletion takes over.
    enum DeletionClaim {
        /// Being created or removed by `owner`, a caller that is gone (nil: queued for the reaper).
        case leftBy(ProcessIdentity?)
        /// In the backend with no record at all (the record is made, as the claim).
        case orphan
        /// Faulty, with its snapshot gone: deleting it is the repair.
        case faulty(DeviceRecord)
    }

    /// Takes over device `id` as `claim` says, detaches and deletes it, and forgets it with its
    /// snapshot if that is still there. Returns false when the device was not as claimed (gone
    /// already, taken by someone else) or is still open (it is queued then).
    @discardableResult
    func deleteDevice(_ id: UInt32, claim: DeletionClaim) throws(StorageError) -> Bool {
        // Undone by a power loss, each step leaves what it started from (a queued, abandoned,
        // orphaned or faulty device), which the next pass deletes again: nothing needs a sync.
        try transition("delete device \(id)", trying: .processCrashSafe, outcome: .processCrashSafe) { (txn) throws(StorageError) -> ReapPlan? in
            let device = try txn.device(id: id)
            switch (claim, device) {
            case (.leftBy(let owner), let device?) where (device.state == .removing || device.state == .creating) && device.owner == owner:
                return ReapPlan(device: device)
            case (.orphan, nil):
                return ReapPlan(device: DeviceRecord(id: id, snapshotID: 0, originID: 0, sizeBytes: 0, state: .removing))
            case (.faulty(let seen), let device?) where device == seen:
                var removing = device
                try removing.move(to: .removing)
                return ReapPlan(device: removing)
            default:
                return nil
            }
        } work: { (plan) throws(StorageError) -> Bool in
            guard let device = plan?.device else { return false }
            do throws(StorageError) {
                try detachAndDelete(device)
            } catch where error.code == .busy {
                return false  // still open by its last user
            }
            return true
        } finish: { (plan, deleted, txn) throws(StorageError) in
            guard let device = plan?.device else { return }
            if let snapshot = try txn.snapshot(id: device.snapshotID), snapshot.deviceID == device.id { try txn.deleteSnapshot(snapshot) }
            if deleted {
                try txn.deleteDevice(id: device.id)
            } else {
                var queued = device  // still open by its last user: back in the queue
                if queued.state != .removing { try queued.move(to: .removing) }
                queued.owner = nil
                try txn.putDevice(queued)
            }
        } revert: { (plan) throws(StorageError) -> ReapPlan? in
            plan
        } restore: { (plan, txn) throws(StorageError) in
            guard var device = plan?.device else { return }
            device.owner = nil  // back in the queue
            try txn.putDevice(device)
        }
    }
}

extension Optional: TransitionPlan where Wrapped: TransitionPlan {
    var moving: [DeviceRecord] { self?.moving ?? [] }
}

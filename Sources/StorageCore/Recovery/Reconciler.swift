/// What reconciling the store with the backend found and did.
public struct ReconcileReport: Sendable, Equatable {
    /// Creations that never finished, undone.
    public var abandonedCreations = 0
    /// Removals that never finished, completed.
    public var finishedRemovals = 0
    /// Devices whose attachment state was corrected (detached by a reboot, or half attached).
    public var reattached = 0
    /// Backend devices no record refers to, deleted.
    public var orphansDeleted = 0
    /// Records whose device is missing from the backend, marked faulty.
    public var missingDevices = 0

    public var changedAnything: Bool { self != ReconcileReport() }
}

/// Crash recovery: finish or undo whatever a "trying" state says might be half done,
/// by looking at the store and the backend together.
extension StorageEngine {
    /// With `finishInterrupted` (at open, when no call is in flight) trying states are finished or undone;
    /// without it only devices that no record refers to are deleted.
    @discardableResult
    func reconcile(finishInterrupted: Bool = true) throws(StorageError) -> ReconcileReport {
        var report = ReconcileReport()
        if finishInterrupted { try checkGeneration() }
        let attached = try backend.attachedDevices()
        let present = try backend.deviceIDs()
        let devices = try store.read { (txn) throws(StorageError) in try txn.allDevices() }
        var known = Set<UInt32>()
        for device in devices {
            known.insert(device.id)
            guard finishInterrupted else { continue }
            let path = attached[device.id]
            switch device.state {
            case .creating, .removing:
                if let path { try backend.deactivate(device.id, path: path) }
                do throws(StorageError) {
                    try backend.deleteDevice(device.id)
                } catch where error.code == .busy && device.state == .removing {
                    continue  // still open by its last user; deleted by a later reap
                }
                try store.write { (txn) throws(StorageError) in
                    if let record = try txn.snapshot(id: device.snapshotID), record.deviceID == device.id {
                        try txn.deleteSnapshot(record)
                    }
                    try txn.deleteDevice(id: device.id)
                }
                if device.state == .creating { report.abandonedCreations += 1 } else { report.finishedRemovals += 1 }
            case .activating, .deactivating, .active, .inactive:
                guard present.contains(device.id) else {
                    try store.write { (txn) throws(StorageError) in
                        var faulty = device
                        faulty.state = .faulty
                        faulty.path = ""
                        faulty.fault = "device missing from the \(backend.kind) backend"
                        try txn.putDevice(faulty)
                    }
                    report.missingDevices += 1
                    continue
                }
                if device.state == .inactive && path == nil { continue }
                if device.state == .active && path == device.path { continue }
                try settle(device, attachedAt: path)
                report.reattached += 1
            case .faulty:
                continue
            }
        }
        for orphan in present.subtracting(known) where backend.ownsEveryDevice {
            if let path = attached[orphan] { try backend.deactivate(orphan, path: path) }
            do throws(StorageError) {
                try backend.deleteDevice(orphan)
            } catch where error.code == .busy {
                continue  // open by someone; a later cleanup deletes it
            }
            report.orphansDeleted += 1
        }
        // Attachments of devices that are gone from both the store and the backend (a deleted
        // image still held by its loop device) are detached too.
        for (orphan, path) in attached where !known.contains(orphan) && !present.contains(orphan) {
            try backend.deactivate(orphan, path: path)
            report.orphansDeleted += 1
        }
        try store.write { (txn) throws(StorageError) in try txn.recordGeneration(of: backend) }
        if report.changedAnything {
            logger.info("reconciled store with backend", metadata: [
                "abandonedCreations": "\(report.abandonedCreations)", "finishedRemovals": "\(report.finishedRemovals)",
                "reattached": "\(report.reattached)", "orphansDeleted": "\(report.orphansDeleted)",
                "missingDevices": "\(report.missingDevices)",
            ])
        }
        return report
    }

    /// Refuses a backend whose metadata is older than the store's record of it: a thin-pool whose
    /// metadata was restored from an old copy, or another pool under the same name. Opening it
    /// would delete devices the store knows and the pool lost, so nothing is touched.
    private func checkGeneration() throws(StorageError) {
        guard let current = backend.generation else { return }
        let stored = try store.read { (txn) throws(StorageError) in try txn.metaInteger("backendGeneration", as: UInt64.self) }
        if let stored, current < stored {
            throw StorageError(.failedPrecondition, "the \(backend.kind) pool's transaction id is \(current) but the store recorded \(stored): the pool's metadata is older than the store (restored, or another pool under the same name). Nothing was changed; check the pool with thin_check and use the state directory that belongs to it")
        }
    }

    /// Brings an interrupted or stale attachment to a settled state: active snapshots and views
    /// attached again, committed ones and the base detached.
    private func settle(_ device: DeviceRecord, attachedAt path: String?) throws(StorageError) {
        let wantAttached = try store.read { (txn) throws(StorageError) -> Bool in
            guard let record = try txn.snapshot(id: device.snapshotID) else { return false }
            return record.kind != .committed
        }
        var fixed = device
        if wantAttached {
            if let path {
                fixed.path = path
            } else {
                fixed.path = try backend.activate(device.id, size: device.sizeBytes, readOnly: device.readOnly)
            }
            fixed.state = .active
        } else {
            if let path { try backend.deactivate(device.id, path: path) }
            fixed.path = ""
            fixed.state = .inactive
        }
        fixed.fault = ""
        let settled = fixed
        try store.write { (txn) throws(StorageError) in try txn.putDevice(settled) }
    }

    /// Deletes backend devices no snapshot refers to and finishes interrupted work (containerd's `Cleanup`).
    @discardableResult
    public func cleanup() throws(StorageError) -> ReconcileReport { try reconcile(finishInterrupted: false) }
}

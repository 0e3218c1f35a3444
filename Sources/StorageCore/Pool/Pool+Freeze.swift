import KBSSystem

/// Freezing in place: containers/storage has no commit step, so a layer becomes immutable under
/// its own name when its first child is made, even while its filesystem is mounted on the host.
extension Pool {
    private struct FreezePlan: TransitionPlan {
        var snapshot: SnapshotRecord
        var device: DeviceRecord
        var mount: HostMount
        var moving: [DeviceRecord] { [] }
    }

    /// Makes the active snapshot `key` committed under its own name. Not mounted: an ordinary
    /// commit (the device is detached). Mounted on the host: the mount is made read-only (which
    /// flushes it, and is refused while a file on it is open for writing) and stays, and the
    /// device stays attached until the last user unmounts it, so that a clone taken now (the
    /// child) sees exactly what the parent holds. Committed already: nothing to do.
    func freeze(_ key: String, in namespace: String) throws(StorageError) {
        try validateName(key, "snapshot key")
        let (snapshot, device) = try store.read { (txn) throws(StorageError) in
            let snapshot = try requireSnapshot(key, in: namespace, txn)
            return (snapshot, try requireDevice(of: snapshot, txn))
        }
        guard snapshot.kind == .active else {
            guard snapshot.kind == .committed else {
                throw StorageError(.failedPrecondition, "snapshot \(StorageError.quoted(key)) is a view; only active snapshots can be frozen")
            }
            return
        }
        guard device.hostMount != nil else {
            return try commit(key, key: key, in: namespace, labels: snapshot.labels)
        }
        // The remount is idempotent and changes no record until it is done: no trying state is
        // needed (a crash in between leaves an active snapshot on a read-only mount, and the
        // next freeze completes it).
        try transition("freeze", trying: .processCrashSafe) { (txn) throws(StorageError) -> FreezePlan in
            let current = try requireSnapshot(key, in: namespace, txn)
            let device = try requireDevice(of: current, txn)
            try requireSettled(device)
            guard current.kind == .active, let mount = device.hostMount, device.state == .active else {
                throw StorageError(.unavailable, "snapshot \(StorageError.quoted(key)) changed while being frozen", remedy: .retry)
            }
            return FreezePlan(snapshot: current, device: device, mount: mount)
        } work: { (plan) throws(StorageError) in
            guard !plan.mount.readOnly else { return }
            try remount(plan.device, plan.mount, readOnly: true)
        } finish: { (plan, _, txn) throws(StorageError) in
            guard let now = try txn.device(id: plan.device.id), now.hostMount?.directory == plan.mount.directory else {
                throw StorageError(.unavailable, "snapshot \(StorageError.quoted(key)) was unmounted while being frozen", remedy: .retry)
            }
            try putCommitted(plan.snapshot, as: key, labels: plan.snapshot.labels, txn)
            var frozen = now
            frozen.hostMount?.readOnly = true
            frozen.hostMount?.detachAfter = true
            try txn.putDevice(frozen)
        } revert: { (plan) throws(StorageError) -> FreezePlan in
            if !plan.mount.readOnly { try remount(plan.device, plan.mount, readOnly: false) }
            return plan
        } restore: { (_, _) throws(StorageError) in }
        logger.debug("snapshot frozen in place", metadata: ["namespace": "\(namespace)", "key": "\(StorageError.quoted(key))"])
    }

    private func remount(_ device: DeviceRecord, _ mount: HostMount, readOnly: Bool) throws(StorageError) {
        try withDeviceLock(device.id) { () throws(StorageError) in
            do throws(SystemCallError) {
                try Mounts.remount(mount.directory, readOnly: readOnly, flags: mount.flags,
                                   options: filesystem(of: device).dataOptions(readOnly: readOnly) + mount.options)
            } catch where error.errno == .busy {
                throw StorageError(.busy, "\(mount.directory) has a file open for writing; it cannot be made read-only", remedy: .release, cause: error)
            } catch {
                throw StorageError(error, "cannot make \(mount.directory) read-only")
            }
        }
    }
}

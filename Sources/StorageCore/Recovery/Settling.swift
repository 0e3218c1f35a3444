import KBSSystem

/// Bringing one device to the settled state its snapshot and the kernel call for: the step shared
/// by recovery of a dead caller's work and by reconciliation after a reboot.
extension Pool {
    private struct SettlePlan: TransitionPlan {
        var device: DeviceRecord
        var snapshot: SnapshotRecord?
        var moving: [DeviceRecord] { [device] }
    }

    /// Settles device `id` in one transition, if its record still `matches` what the caller saw;
    /// `trying` is the state it is held in meanwhile. Returns false when there was nothing to do.
    @discardableResult
    func settle(_ id: UInt32, matches: (DeviceRecord) -> Bool, trying: (DeviceRecord) -> DeviceState) throws(StorageError) -> Bool {
        let settled = try transition("recover device \(id)", trying: .processCrashSafe) { (txn) throws(StorageError) -> SettlePlan? in
            guard var device = try txn.device(id: id), matches(device) else { return nil }
            let held = trying(device)
            if held != device.state { try device.move(to: held) }
            return SettlePlan(device: device, snapshot: try txn.snapshot(id: device.snapshotID))
        } work: { (plan) throws(StorageError) -> DeviceRecord? in
            guard let plan else { return nil }
            return try settledRecord(plan.device, snapshot: plan.snapshot)
        } finish: { (_, settled, txn) throws(StorageError) in
            if let settled { try txn.putDevice(settled) }
        } revert: { (_) throws(StorageError) -> SettlePlan? in
            throw StorageError(.internal, "a recovery has no earlier state to go back to")
        } restore: { (_, _) throws(StorageError) in
        }
        return settled != nil
    }

    /// What `device` becomes: its host mount kept only when an interrupted unmount left it in
    /// place, then attached when its snapshot is active or a view (or the mount stays), detached
    /// otherwise (committed snapshots, the base device).
    private func settledRecord(_ device: DeviceRecord, snapshot: SnapshotRecord?) throws(StorageError) -> DeviceRecord {
        var settled = device
        var keptMount: HostMount?
        if let mount = device.hostMount {
            let mounted = try system("cannot read the mount table") { () throws(SystemCallError) in try Mounts.isMountPoint(mount.directory) }
            if device.state == .unmounting && mounted {
                keptMount = mount
                keptMount?.count = 1
            } else {
                var leaving = mount
                leaving.detachAfter = false  // the attachment is settled below
                try unmountHostMount(leaving, of: device)
            }
        }
        let wantAttached = keptMount != nil || (snapshot.map { $0.kind != .committed } ?? false)
        let attached = try attachedPath(of: device)
        if wantAttached {
            let path = try attached.or { () throws(StorageError) in try attachDevice(device.id, size: device.sizeBytes, readOnly: device.readOnly) }
            try settled.move(to: .active, path: path)
        } else {
            if let attached { try detachDevice(device.id, path: attached) }
            try settled.move(to: .inactive)
        }
        settled.hostMount = keptMount
        return settled
    }
}


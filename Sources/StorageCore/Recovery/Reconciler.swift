import KBSSystem

/// What reconciling the store with the backend found and did.
public struct ReconcileReport: Sendable, Equatable {
    /// Creations dead callers left unfinished, undone.
    public var abandonedCreations = 0
    /// Removals dead callers left unfinished (or queued for the reaper), finished.
    public var finishedRemovals = 0
    /// Devices whose attachment or host mount was brought back in line (a reboot, a dead caller).
    public var settled = 0
    /// Backend devices no record refers to, deleted.
    public var orphansDeleted = 0
    /// Records whose device is missing from the backend, marked faulty.
    public var missingDevices = 0

    public var changedAnything: Bool { self != ReconcileReport() }

    public init() {}
}

/// Crash recovery: finishing or undoing what dead callers left in trying states, and after a
/// reboot bringing every device back in line with its snapshot. Work of callers still running,
/// in this process or another, is never touched.
extension Pool {
    /// Recovers one device a dead caller left in a trying state (or a removal queued for the reaper).
    func recoverAbandoned(_ seen: InFlightDevice) throws(StorageError) {
        let same = { (device: DeviceRecord) in device.state == seen.state && device.owner == seen.owner }
        switch seen.state {
        case .creating, .removing:
            try deleteDevice(seen.id, claim: .leftBy(seen.owner))
        case .activating, .deactivating, .mounting, .unmounting:
            try settle(seen.id, matches: same, trying: \.state)
        case .inactive, .active, .faulty:
            return
        }
        logger.info("recovered a device left by an interrupted call", metadata: ["device": "\(seen.id)", "state": "\(seen.state)", "owner": "\(seen.owner.map { "\($0)" } ?? "none")"])
    }

    /// Recovers every device in a trying state whose caller is gone; returns what it did.
    @discardableResult
    func recoverAbandonedDevices() throws(StorageError) -> ReconcileReport {
        var report = ReconcileReport()
        let pending = try store.read { (txn) throws(StorageError) in try txn.pendingDevices() }
        for device in pending {
            let seen = InFlightDevice(id: device.id, state: device.state, owner: device.owner)
            guard isAbandoned(seen) else { continue }
            try recoverAbandoned(seen)
            switch device.state {
            case .creating: report.abandonedCreations += 1
            case .removing: report.finishedRemovals += 1
            default: report.settled += 1
            }
        }
        return report
    }

    /// At open: refuses a pool that went back in time, recovers what dead callers left, and after
    /// a reboot (or with `full`) brings every device back in line with the kernel.
    @discardableResult
    func reconcile(full: Bool = false) throws(StorageError) -> ReconcileReport {
        try checkGeneration()
        let boot = try system("cannot read the boot id") { () throws(SystemCallError) in try ProcessIdentity.currentBootID() }
        let rebooted = try store.read { (txn) throws(StorageError) in try txn.metaString("boot") } != boot
        var report = try recoverAbandonedDevices()
        if rebooted || full {
            let found = try reconcileWithKernel()
            report.settled += found.settled
            report.orphansDeleted += found.orphansDeleted
            report.missingDevices += found.missingDevices
            try store.write(.processCrashSafe) { (txn) throws(StorageError) in try txn.setMetaString("boot", boot) }
        }
        if report.changedAnything {
            logger.info("reconciled store with backend", metadata: [
                "abandonedCreations": "\(report.abandonedCreations)", "finishedRemovals": "\(report.finishedRemovals)",
                "settled": "\(report.settled)", "orphansDeleted": "\(report.orphansDeleted)", "missingDevices": "\(report.missingDevices)",
            ])
        }
        EngineMetrics.record(report)
        return report
    }

    /// Every settled device compared with the backend: attachments and host mounts a reboot (or
    /// someone behind the engine's back) took away, devices the backend lost, and devices no
    /// record names. The backend is listed before the store is read, so a device created
    /// meanwhile (its record is written first) is never taken for an orphan.
    private func reconcileWithKernel() throws(StorageError) -> ReconcileReport {
        var report = ReconcileReport()
        let present = try backend.deviceIDs()
        let attached = try backend.attachedDevices()
        let mounted = Set(try system("cannot read the mount table") { () throws(SystemCallError) in try Mounts.table() }.map(\.mountPoint))
        let devices = try store.read { (txn) throws(StorageError) -> [(DeviceRecord, SnapshotRecord?)] in
            try txn.allDevices().map { (device) throws(StorageError) in (device, try txn.snapshot(id: device.snapshotID)) }
        }
        for (device, snapshot) in devices where !device.state.isTrying && device.state != .faulty {
            guard present.contains(device.id) else {
                try markMissing(device)
                report.missingDevices += 1
                continue
            }
            let wantAttached = device.hostMount != nil || (snapshot.map { $0.kind != .committed } ?? false)
            let path = attached[device.id]
            let staleMount = device.hostMount.map { !mounted.contains($0.directory) } ?? false
            let drifted = staleMount || (wantAttached ? (device.state != .active || path != device.path) : path != nil || device.state != .inactive)
            guard drifted else { continue }
            if try settle(device.id, matches: { $0 == device }, trying: { _ in staleMount ? .unmounting : wantAttached ? .activating : .deactivating }) {
                report.settled += 1
            }
        }
        let known = Set(devices.map(\.0.id))
        for orphan in present.subtracting(known).sorted() where backend.ownsEveryDevice {
            if try deleteDevice(orphan, claim: .orphan) { report.orphansDeleted += 1 }
        }
        // Attachments of devices gone from both the store and the backend (a deleted image still
        // held by its loop device).
        for (orphan, path) in attached where !known.contains(orphan) && !present.contains(orphan) && backend.ownsEveryDevice {
            try detachDevice(orphan, path: path)
            report.orphansDeleted += 1
        }
        return report
    }

    private func markMissing(_ device: DeviceRecord) throws(StorageError) {
        try store.write { (txn) throws(StorageError) in
            guard var current = try txn.device(id: device.id), current == device else { return }
            try current.move(to: .faulty, fault: "device missing from the \(backend.kind) backend")
            current.path = ""
            try txn.putDevice(current)
        }
    }

    /// Refuses a backend whose metadata is older than the store's record of it: a thin-pool whose
    /// metadata was restored from an old copy, or another pool under the same name. Opening it
    /// would delete devices the store knows and the pool lost, so nothing is touched.
    private func checkGeneration() throws(StorageError) {
        guard let current = try backend.currentGeneration() else { return }
        let stored = try store.read { (txn) throws(StorageError) in try txn.metaInteger("backendGeneration", as: UInt64.self) }
        if let stored, current < stored {
            throw StorageError(.failedPrecondition, "the \(backend.kind) pool's transaction id is \(current) but the store recorded \(stored): the pool's metadata is older than the store (restored, or another pool under the same name). Nothing was changed; check the pool with thin_check and use the state directory that belongs to it")
        }
    }

    /// Deletes backend devices no snapshot refers to, retries faulty devices whose snapshot is
    /// gone, and finishes what dead callers left (containerd's `Cleanup`).
    @discardableResult
    func cleanup() throws(StorageError) -> ReconcileReport {
        var report = try recoverAbandonedDevices()
        report.finishedRemovals += try reapQueuedDevices()
        let present = try backend.deviceIDs()
        let (known, faulty) = try store.read { (txn) throws(StorageError) -> (Set<UInt32>, [DeviceRecord]) in
            var known = Set<UInt32>()
            var faulty: [DeviceRecord] = []
            try txn.forEachDevice { (device) throws(StorageError) -> Bool in
                known.insert(device.id)
                if device.state == .faulty, try txn.snapshot(id: device.snapshotID) == nil, device.snapshotID != 0 { faulty.append(device) }
                return true
            }
            return (known, faulty)
        }
        for device in faulty {
            if try deleteDevice(device.id, claim: .faulty(device)) { report.orphansDeleted += 1 }
        }
        for orphan in present.subtracting(known).sorted() where backend.ownsEveryDevice {
            if try deleteDevice(orphan, claim: .orphan) { report.orphansDeleted += 1 }
        }
        EngineMetrics.record(report)
        return report
    }
}

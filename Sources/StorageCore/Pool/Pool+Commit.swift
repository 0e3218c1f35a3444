import KBSSystem

/// Committing: the active snapshot's device is detached (its contents are final once no writer
/// is attached) and the snapshot becomes the immutable `name`.
extension Pool {
    private struct CommitPlan: TransitionPlan {
        var snapshot: SnapshotRecord
        var device: DeviceRecord
        var previous: DeviceRecord
        var moving: [DeviceRecord] { [device] }
    }

    func commit(_ name: String, key: String, in namespace: String, labels: [String: String]) throws(StorageError) {
        try validateName(name, "commit name")
        try validateName(key, "snapshot key")
        try validateLabels(labels)
        try transition("commit", trying: .processCrashSafe) { (txn) throws(StorageError) -> CommitPlan in
            let snapshot = try requireSnapshot(key, in: namespace, txn)
            guard snapshot.kind == .active else {
                throw StorageError(.failedPrecondition, "snapshot \(StorageError.quoted(key)) is \(snapshot.kind); only active snapshots can be committed")
            }
            if name != key, try txn.snapshot(named: name, in: namespace) != nil {
                throw StorageError(.alreadyExists, "a snapshot named \(StorageError.quoted(name)) already exists", remedy: .chooseAnother)
            }
            let previous = try requireDevice(of: snapshot, txn)
            try requireSettled(previous)
            if previous.hostMount != nil {
                throw StorageError(.busy, "snapshot \(StorageError.quoted(key)) is mounted on the host", remedy: .release)
            }
            guard previous.state == .active || previous.state == .inactive else {
                throw StorageError(.failedPrecondition, "the device of \(StorageError.quoted(key)) is \(previous.state)", remedy: .checkPool)
            }
            var device = previous
            try device.move(to: .deactivating)
            return CommitPlan(snapshot: snapshot, device: device, previous: previous)
        } work: { (plan) throws(StorageError) -> Bool in
            CrashPoint.commitAfterMark.hit()
            let deferred = plan.previous.state == .active ? try detachDevice(plan.device.id, path: plan.device.path) : false
            CrashPoint.commitAfterDetach.hit()
            return deferred
        } finish: { (plan, deferred, txn) throws(StorageError) in
            try putCommitted(plan.snapshot, as: name, labels: labels, txn)
            var inactive = plan.device
            try inactive.move(to: .inactive, path: deferred ? plan.device.path : nil)
            try txn.putDevice(inactive)
        } revert: { (plan) throws(StorageError) -> CommitPlan in
            try reattachIfDetached(plan.previous).map { CommitPlan(snapshot: plan.snapshot, device: plan.device, previous: $0) } ?? plan
        } restore: { (plan, txn) throws(StorageError) in
            try txn.putDevice(plan.previous)
        }
        logger.debug("snapshot committed", metadata: ["namespace": "\(namespace)", "key": "\(StorageError.quoted(key))", "name": "\(StorageError.quoted(name))"])
    }

    /// Writes `snapshot` (active) as the committed snapshot `name`, renamed in its namespace's index.
    func putCommitted(_ snapshot: SnapshotRecord, as name: String, labels: [String: String], _ txn: borrowing GraphTransaction) throws(StorageError) {
        var committed = snapshot
        committed.name = name
        committed.kind = .committed
        // A committed snapshot is new to containerd: created and updated now.
        committed.created = WallClock.nanosecondsSinceEpoch()
        committed.updated = committed.created
        committed.labels = labels
        if name != snapshot.name {
            try txn.unindexName(snapshot.namespace, snapshot.name, id: snapshot.id)
            try txn.indexName(snapshot.namespace, name, id: snapshot.id)
        }
        try txn.putSnapshot(committed)
    }

    /// For a rollback: attaches `previous` again when it was attached and is not any more;
    /// returns it with its new path, or nil when nothing changed.
    func reattachIfDetached(_ previous: DeviceRecord) throws(StorageError) -> DeviceRecord? {
        guard previous.state == .active, try attachedPath(of: previous) == nil else { return nil }
        var again = previous
        again.path = try attachDevice(previous.id, size: previous.sizeBytes, readOnly: previous.readOnly)
        return again
    }
}

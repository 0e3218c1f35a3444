import KBSSystem

/// Creating snapshots: an O(1) copy-on-write clone of the parent's (or the base) device, attached.
extension Pool {
    private struct CreatePlan: TransitionPlan {
        var snapshot: SnapshotRecord
        var device: DeviceRecord
        var originPath: String?
        var grows: Bool
        /// Made empty and formatted with this filesystem, not cloned.
        var formats: FilesystemType?
        var moving: [DeviceRecord] { [device] }
    }

    /// Creates `key` in `namespace` of `kind` on the committed `parent` (or empty), or, with
    /// `template`, as a copy of that snapshot's device under its parent; returns its mounts. With
    /// `formatting`, an empty device of `size` (or the pool's default) is made and formatted with
    /// that filesystem instead of cloning the base device.
    func createSnapshot(
        _ key: String, in namespace: String, kind: SnapshotKind, parent: String?, template: String? = nil,
        labels: [String: String], size: UInt64? = nil, formatting: FilesystemType? = nil
    ) throws(StorageError) -> [Mount] {
        try validateName(key, "snapshot key")
        if let parent { try validateName(parent, "parent name") }
        try validateLabels(labels)
        // Only a device this call made is deleted when it fails: a clone refused because the id is
        // taken (a shared pool's other user, a leftover) leaves that device alone.
        var cloned = false
        let device = try transition(kind == .view ? "view" : "prepare", trying: creationDurability) { (txn) throws(StorageError) -> CreatePlan in
            try planCreation(key, namespace, kind, parent, template, labels, size, formatting, txn)
        } work: { (plan) throws(StorageError) -> DeviceRecord in
            CrashPoint.prepareAfterRecord.hit()
            if plan.formats != nil {
                try backend.createDevice(plan.device.id, size: plan.device.sizeBytes)
            } else {
                try cloneDevice(plan.device.id, from: plan.device.originID, originPath: plan.originPath)
            }
            cloned = true
            CrashPoint.prepareAfterClone.hit()
            if plan.grows { try backend.grow(plan.device.id, to: plan.device.sizeBytes) }
            var attached = plan.device
            try attached.move(to: .active, path: try attachDevice(plan.device.id, size: plan.device.sizeBytes, readOnly: kind == .view))
            if let fresh = plan.formats, backend.providesBlockDevices {
                try fresh.format(attached.path)
            } else if plan.grows && backend.providesBlockDevices {
                try filesystem(of: attached).grow(attached.path, scratch: "\(mountsDirectory)/grow-\(plan.device.id)")
            }
            CrashPoint.prepareAfterAttach.hit()
            return attached
        } finish: { (_, attached, txn) throws(StorageError) in
            try txn.putDevice(attached)
        } revert: { (plan) throws(StorageError) -> CreatePlan in
            if cloned { try detachAndDelete(plan.device) }
            return plan
        } restore: { (plan, txn) throws(StorageError) in
            try txn.deleteSnapshot(plan.snapshot)
            try txn.deleteDevice(id: plan.device.id)
        }
        logger.debug("snapshot created", metadata: ["namespace": "\(namespace)", "key": "\(StorageError.quoted(key))", "kind": "\(kind)", "device": "\(device.path)"])
        return mounts(for: device, kind: kind)
    }

    /// Step 1 of a creation: the checks, the snapshot record, and its device record "creating".
    private func planCreation(
        _ key: String, _ namespace: String, _ kind: SnapshotKind, _ parent: String?, _ template: String?,
        _ labels: [String: String], _ size: UInt64?, _ formats: FilesystemType?, _ txn: borrowing GraphTransaction
    ) throws(StorageError) -> CreatePlan {
        if try txn.snapshot(named: key, in: namespace) != nil {
            throw StorageError(.alreadyExists, "snapshot \(StorageError.quoted(key)) already exists", remedy: .chooseAnother)
        }
        var parentID: UInt64 = 0
        let origin: DeviceRecord
        if let template {
            let source = try requireSnapshot(template, in: namespace, txn)
            origin = try requireDevice(of: source, txn)
            if source.kind == .active, let mount = origin.hostMount, !mount.readOnly {
                throw StorageError(.busy, "template \(StorageError.quoted(template)) is mounted writable", remedy: .release)
            }
            parentID = source.parentID
        } else if let parent {
            guard let p = try txn.snapshot(named: parent, in: namespace) else {
                throw StorageError(.notFound, "parent snapshot \(StorageError.quoted(parent)) does not exist; commit it before using it as a parent")
            }
            guard p.kind == .committed else {
                throw StorageError(.failedPrecondition, "parent \(StorageError.quoted(parent)) is \(p.kind), not committed; only committed snapshots can be parents")
            }
            parentID = p.id
            origin = try requireDevice(of: p, txn)
        } else {
            guard let base = try txn.device(id: record.baseDeviceID) else {
                throw StorageError.inconsistent("the pool's base device record is missing")
            }
            origin = base
        }
        try requireSettled(origin)
        guard origin.state != .faulty else {
            throw StorageError(.failedPrecondition, "the source device \(origin.id) is faulty (\(origin.fault))", remedy: .checkPool)
        }
        if formats != nil, template != nil || parent != nil {
            throw StorageError(.invalidArgument, "a snapshot on a parent or a template has its source's filesystem; a filesystem can be chosen only for an empty one")
        }
        if formats == nil, let size, size < origin.sizeBytes {
            throw StorageError(.invalidArgument, "a device of \(ByteCount.format(Int64(size))) cannot hold its parent's \(ByteCount.format(Int64(origin.sizeBytes))); devices only grow")
        }
        let now = WallClock.nanosecondsSinceEpoch()
        let snapshot = SnapshotRecord(id: try txn.allocateSnapshotID(), namespace: namespace, name: key, parentID: parentID, kind: kind,
                                      deviceID: try txn.allocateDeviceID(), created: now, updated: now, labels: labels)
        let device = DeviceRecord(id: snapshot.deviceID, snapshotID: snapshot.id, originID: formats == nil ? origin.id : 0,
                                  sizeBytes: formats == nil ? max(size ?? 0, origin.sizeBytes) : size ?? origin.sizeBytes,
                                  state: .creating, readOnly: kind == .view,
                                  filesystem: formats.map { $0 == filesystem ? nil : $0 } ?? origin.filesystem)
        try txn.insertSnapshot(snapshot)
        return CreatePlan(snapshot: snapshot, device: device, originPath: origin.path.isEmpty ? nil : origin.path,
                          grows: device.sizeBytes > origin.sizeBytes, formats: formats)
    }
}

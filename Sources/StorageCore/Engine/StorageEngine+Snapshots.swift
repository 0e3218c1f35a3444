/// Creating, committing and removing snapshots.
extension StorageEngine {
    /// Creates an active (writable) snapshot `key` on the committed `parent`, or empty, and returns its mounts.
    /// `size` grows its device (and filesystem) beyond the parent's or the pool default.
    public func prepare(_ key: String, parent: String? = nil, labels: [String: String] = [:], size: UInt64? = nil) throws(StorageError) -> [Mount] {
        try createSnapshot(key, kind: .active, parent: parent, labels: labels, size: size)
    }

    /// Creates a read-only view `key` of the committed `parent`, or of an empty filesystem, and returns its mounts.
    public func view(_ key: String, parent: String? = nil, labels: [String: String] = [:]) throws(StorageError) -> [Mount] {
        try createSnapshot(key, kind: .view, parent: parent, labels: labels)
    }

    /// Creates an active snapshot `key` whose contents are a copy-on-write copy of `source`
    /// (any kind, not mounted writable) and whose parent is `source`'s parent:
    /// containers/storage's `CreateFromTemplate`.
    public func clone(_ key: String, from source: String, labels: [String: String] = [:]) throws(StorageError) -> [Mount] {
        try createSnapshot(key, kind: .active, parent: nil, template: source, labels: labels)
    }

    private func createSnapshot(
        _ key: String, kind: SnapshotKind, parent: String?, template: String? = nil, labels: [String: String],
        size: UInt64? = nil
    ) throws(StorageError) -> [Mount] {
        try validateName(key, "snapshot key")
        if let parent { try validateName(parent, "parent name") }
        try validateLabels(labels)

        // 1. Graph and device record together, device "creating".
        let (record, device, grows, originPath) = try store.write {
            (txn) throws(StorageError) -> (SnapshotRecord, DeviceRecord, Bool, String?) in
            if try txn.snapshot(named: key) != nil {
                throw StorageError(.alreadyExists, "snapshot \(StorageError.quoted(key)) already exists; choose another key or remove it first")
            }
            var parentID: UInt64 = 0
            var origin: DeviceRecord
            if let template {
                let source = try requireSnapshot(template, in: txn)
                if source.kind == .active, mounts.count(source.id) > 0 {
                    throw StorageError(.busy, "template \(StorageError.quoted(template)) is mounted writable; unmount it first")
                }
                parentID = source.parentID
                origin = try requireDevice(of: source, in: txn)
            } else if let parent {
                guard let p = try txn.snapshot(named: parent) else {
                    throw StorageError(.notFound, "parent snapshot \(StorageError.quoted(parent)) does not exist; commit it before using it as a parent")
                }
                guard p.kind == .committed else {
                    throw StorageError(.failedPrecondition, "parent \(StorageError.quoted(parent)) is \(p.kind), not committed; only committed snapshots can be parents")
                }
                parentID = p.id
                origin = try requireDevice(of: p, in: txn)
            } else {
                guard let base = try txn.device(id: config.baseDeviceID) else {
                    throw StorageError(.internal, "the pool's base device record is missing; run `snapctl fsck`")
                }
                origin = base
            }
            guard !origin.state.isTrying, origin.state != .faulty else {
                throw StorageError(.failedPrecondition, "the source device \(origin.id) is \(origin.state); retry, or run `snapctl fsck` if it stays so")
            }
            if let size, size < origin.sizeBytes {
                throw StorageError(.invalidArgument, "a device of \(ByteCount.format(Int64(size))) cannot hold its parent's \(ByteCount.format(Int64(origin.sizeBytes))); devices only grow")
            }
            let now = nowNanoseconds()
            let record = SnapshotRecord(id: try txn.allocateSnapshotID(), name: key, parentID: parentID, kind: kind,
                                        deviceID: try txn.allocateDeviceID(), created: now, updated: now, labels: labels)
            let device = DeviceRecord(id: record.deviceID, snapshotID: record.id, originID: origin.id,
                                      sizeBytes: max(size ?? 0, origin.sizeBytes), state: .creating, readOnly: kind == .view)
            try txn.insertSnapshot(record)
            try txn.putDevice(device)
            return (record, device, device.sizeBytes > origin.sizeBytes, origin.path.isEmpty ? nil : origin.path)
        }

        // 2. The backend: an O(1) copy-on-write snapshot of the origin, then attach.
        CrashPoint.prepareAfterRecord.hit()
        var path: String?
        do throws(StorageError) {
            try backend.snapshotDevice(device.id, from: device.originID, originPath: originPath)
            CrashPoint.prepareAfterClone.hit()
            if grows { try backend.grow(device.id, to: device.sizeBytes) }
            path = try backend.activate(device.id, size: device.sizeBytes, readOnly: kind == .view)
            if grows && backend.providesBlockDevices {
                try config.filesystem.grow(path!, scratch: "\(stateDirectory)/mounts/grow-\(device.id)")
            }
            CrashPoint.prepareAfterAttach.hit()
        } catch {
            if let path { try? backend.deactivate(device.id, path: path) }
            try? backend.deleteDevice(device.id)
            // Undo step 1; if even that fails, the "creating" record is cleaned up at the next open.
            try? store.write { (txn) throws(StorageError) in
                try txn.deleteSnapshot(record)
                try txn.deleteDevice(id: device.id)
            }
            logger.info("create refused by backend", metadata: ["key": "\(StorageError.quoted(key))", "error": "\(error)"])
            throw error
        }

        // 3. Outcome.
        var active = device
        try active.move(to: .active, path: path!)
        try store.write { (txn) throws(StorageError) in
            try txn.putDevice(active)
            try txn.recordGeneration(of: backend)
        }
        logger.debug("snapshot created", metadata: ["key": "\(StorageError.quoted(key))", "kind": "\(kind)", "device": "\(active.path)"])
        return mountsFor(active, kind: kind)
    }

    /// Commits the active snapshot `key` as the immutable snapshot `name`; the key goes away.
    public func commit(_ name: String, key: String, labels: [String: String] = [:]) throws(StorageError) {
        try validateName(name, "commit name")
        try validateName(key, "snapshot key")
        try validateLabels(labels)

        // 1. Check everything and mark the device as detaching.
        let (record, device) = try store.write { (txn) throws(StorageError) -> (SnapshotRecord, DeviceRecord) in
            let record = try requireSnapshot(key, in: txn)
            guard record.kind == .active else {
                throw StorageError(.failedPrecondition, "snapshot \(StorageError.quoted(key)) is \(record.kind); only active snapshots can be committed")
            }
            if name != key, try txn.snapshot(named: name) != nil {
                throw StorageError(.alreadyExists, "a snapshot named \(StorageError.quoted(name)) already exists; commit under another name")
            }
            if mounts.count(record.id) > 0 {
                throw StorageError(.busy, "snapshot \(StorageError.quoted(key)) is mounted by snapctl; unmount it before committing")
            }
            var device = try requireDevice(of: record, in: txn)
            switch device.state {
            case .active:
                try device.move(to: .deactivating)
                try txn.putDevice(device)
            case .inactive:
                break
            default:
                throw StorageError(.failedPrecondition, "the device of \(StorageError.quoted(key)) is \(device.state); retry, or run `snapctl fsck`")
            }
            return (record, device)
        }

        // 2. Detach: the committed contents are final once no writer is attached.
        CrashPoint.commitAfterMark.hit()
        let deferred = device.state == .deactivating ? try detachMarked(device) : false

        CrashPoint.commitAfterDetach.hit()

        // 3. Rename, change kind and record the detached device in one transaction.
        try store.write { (txn) throws(StorageError) in
            var committed = record
            committed.name = name
            committed.kind = .committed
            // A committed snapshot is new to containerd: created and updated now.
            committed.created = nowNanoseconds()
            committed.updated = committed.created
            committed.labels = labels
            try txn.unindexName(key, id: record.id)
            try txn.indexName(name, id: record.id)
            try txn.putSnapshot(committed)
            var inactive = device
            if inactive.state == .deactivating { try inactive.move(to: .inactive, path: deferred ? device.path : nil) }
            try txn.putDevice(inactive)
        }
        logger.debug("snapshot committed", metadata: ["key": "\(StorageError.quoted(key))", "name": "\(StorageError.quoted(name))"])
    }

    /// Removes the snapshot `key` and deletes its device. Refused while it has children or is mounted.
    /// With `deferDeviceDeletion` the snapshot is gone when this returns and its device is deleted
    /// later by `reapRemovedDevices` (containerd's async remove).
    public func remove(_ key: String, deferDeviceDeletion: Bool = false) throws(StorageError) {
        try validateName(key, "snapshot key")

        // 1. Check and mark the device "removing".
        let (record, device, previous) = try store.write { (txn) throws(StorageError) -> (SnapshotRecord, DeviceRecord, DeviceRecord) in
            let record = try requireSnapshot(key, in: txn)
            let children = try txn.children(of: record.id, limit: 1)
            if !children.isEmpty {
                throw StorageError(.failedPrecondition, "snapshot \(StorageError.quoted(key)) has children; remove them first")
            }
            if mounts.count(record.id) > 0 {
                throw StorageError(.busy, "snapshot \(StorageError.quoted(key)) is mounted by snapctl; unmount it first")
            }
            var device = try requireDevice(of: record, in: txn)
            let previous = device
            guard device.state.canMove(to: .removing) else {
                throw StorageError(.failedPrecondition, "the device of \(StorageError.quoted(key)) is \(device.state); retry, or run `snapctl fsck`")
            }
            try device.move(to: .removing)
            try txn.putDevice(device)
            if deferDeviceDeletion { try txn.deleteSnapshot(record) }
            return (record, device, previous)
        }
        if deferDeviceDeletion { return }

        // 2. Detach and delete.
        CrashPoint.removeAfterMark.hit()
        do throws(StorageError) {
            if !device.path.isEmpty { try backend.deactivate(device.id, path: device.path) }
        } catch {
            try? store.write { (txn) throws(StorageError) in try txn.putDevice(previous) }
            throw error
        }
        CrashPoint.removeAfterDetach.hit()
        do throws(StorageError) {
            try backend.deleteDevice(device.id)
        } catch where error.code == .busy {
            // Still open elsewhere (a thin device whose removal the kernel deferred): the snapshot
            // goes now, the device stays "removing" until `reapRemovedDevices` can delete it.
            try store.write { (txn) throws(StorageError) in try txn.deleteSnapshot(record) }
            logger.debug("snapshot removed; its device is still open and is deleted later", metadata: ["key": "\(StorageError.quoted(key))", "device": "\(device.id)"])
            return
        } catch {
            try? store.write { (txn) throws(StorageError) in
                var faulty = device
                try faulty.move(to: .faulty, fault: "remove: \(error)")
                faulty.path = ""
                try txn.putDevice(faulty)
            }
            throw error
        }

        CrashPoint.removeAfterDelete.hit()

        // 3. Forget both.
        try store.write { (txn) throws(StorageError) in
            try txn.deleteSnapshot(record)
            try txn.deleteDevice(id: device.id)
            try txn.recordGeneration(of: backend)
        }
        logger.debug("snapshot removed", metadata: ["key": "\(StorageError.quoted(key))"])
    }
}

/// Deleting devices whose snapshots were removed with deferred deletion.
extension StorageEngine {
    /// Detaches and deletes every device left "removing" by a deferred remove; returns how many.
    @discardableResult
    public func reapRemovedDevices() throws(StorageError) -> Int {
        let pending = try store.read { (txn) throws(StorageError) -> [DeviceRecord] in
            var found: [DeviceRecord] = []
            try txn.forEachDevice { (device) throws(StorageError) -> Bool in
                if device.state == .removing, try txn.snapshot(id: device.snapshotID) == nil { found.append(device) }
                return true
            }
            return found
        }
        var deleted = 0
        for device in pending {
            if !device.path.isEmpty { try backend.deactivate(device.id, path: device.path) }
            do throws(StorageError) {
                try backend.deleteDevice(device.id)
            } catch where error.code == .busy {
                continue  // its last user still has it open; the next pass deletes it
            }
            try store.write { (txn) throws(StorageError) in
                try txn.deleteDevice(id: device.id)
                try txn.recordGeneration(of: backend)
            }
            deleted += 1
        }
        if deleted > 0 { logger.debug("deleted devices of removed snapshots", metadata: ["count": "\(deleted)"]) }
        return deleted
    }
}

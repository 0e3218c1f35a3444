import KBSSystem

/// Reading and relabelling snapshots.
extension Pool {
    func stat(_ key: String, in namespace: String) throws(StorageError) -> SnapshotInfo {
        try store.read { (txn) throws(StorageError) -> SnapshotInfo in try info(try requireSnapshot(key, in: namespace, txn), txn) }
    }

    /// The snapshot with its device, for administrators.
    func inspect(_ key: String, in namespace: String) throws(StorageError) -> SnapshotDetails {
        try store.read { (txn) throws(StorageError) -> SnapshotDetails in
            let record = try requireSnapshot(key, in: namespace, txn)
            return SnapshotDetails(info: try info(record, txn), device: try txn.device(id: record.deviceID).map { DeviceInfo($0, filesystem: filesystem(of: $0)) })
        }
    }

    /// Namespaces holding a snapshot named `key`.
    func namespaces(containing key: String) throws(StorageError) -> [String] {
        try store.read { (txn) throws(StorageError) -> [String] in
            var found: [String] = []
            try txn.forEachSnapshot { (record) throws(StorageError) -> Bool in
                if record.name == key { found.append(record.namespace) }
                return true
            }
            return found.sorted()
        }
    }

    /// Changes labels: `fieldPaths` empty or containing "labels" replaces all of them;
    /// "labels.NAME" sets or (when absent from `info`) deletes one. Other fields are immutable.
    func update(_ info: SnapshotInfo, in namespace: String, fieldPaths: [String]) throws(StorageError) -> SnapshotInfo {
        try validateName(info.name, "snapshot key")
        try validateLabels(info.labels)
        var replaceAll = fieldPaths.isEmpty
        var single: [String] = []
        for path in fieldPaths {
            if path == "labels" {
                replaceAll = true
            } else if path.hasPrefix("labels."), path.count > "labels.".count {
                single.append(String(path.dropFirst("labels.".count)))
            } else {
                throw StorageError(.invalidArgument, "cannot update field \"\(path)\"; only \"labels\" and \"labels.<name>\" can change")
            }
        }
        return try store.write { (txn) throws(StorageError) -> SnapshotInfo in
            var record = try requireSnapshot(info.name, in: namespace, txn)
            var labels = replaceAll ? info.labels : record.labels
            for key in single { labels[key] = info.labels[key] }
            try validateLabels(labels)
            record.labels = labels
            record.updated = WallClock.nanosecondsSinceEpoch()
            try txn.putSnapshot(record)
            return try self.info(record, txn)
        }
    }

    /// Visits every snapshot of `namespace` (all when nil) matching `filter`, in creation order,
    /// from one consistent view of the store.
    func walk(_ namespace: String?, _ filter: SnapshotFilter, _ body: (SnapshotInfo) throws(StorageError) -> Void) throws(StorageError) {
        try store.read { (txn) throws(StorageError) in
            var parentNames: [UInt64: String] = [:]
            try txn.forEachSnapshot { (record) throws(StorageError) -> Bool in
                if let namespace, record.namespace != namespace { return true }
                var parent: String?
                if record.parentID != 0 {
                    if let cached = parentNames[record.parentID] {
                        parent = cached
                    } else {
                        parent = try txn.snapshot(id: record.parentID)?.name
                        if parentNames.count < 4096 { parentNames[record.parentID] = parent }
                    }
                }
                let info = SnapshotInfo(record, parent: parent)
                if filter.matches(info) { try body(info) }
                return true
            }
        }
    }

    /// The snapshot, its device and its parent's device (the base device when it has no parent;
    /// none for a device with a filesystem of its own, such as a volume made with another filesystem, and its copies).
    private func deviceAndParent(_ key: String, _ namespace: String) throws(StorageError) -> (DeviceRecord, UInt32?) {
        try store.read { (txn) throws(StorageError) -> (DeviceRecord, UInt32?) in
            let record = try requireSnapshot(key, in: namespace, txn)
            let device = try requireDevice(of: record, txn)
            if let parent = try txn.snapshot(id: record.parentID) { return (device, parent.deviceID) }
            return (device, device.originID == 0 || device.filesystem != nil ? nil : self.record.baseDeviceID)
        }
    }

    /// Bytes of the snapshot's device written since it left its parent, and bytes still shared with it.
    func deviceUsage(_ key: String, in namespace: String) throws(StorageError) -> DeviceUsage {
        let (device, parent) = try deviceAndParent(key, namespace)
        return try backend.usage(of: device.id, comparedTo: parent)
    }

    /// Space the snapshot holds of its own: bytes not shared with its parent, and inodes added.
    func usage(_ key: String, in namespace: String) throws(StorageError) -> SnapshotUsage {
        let (device, parent) = try deviceAndParent(key, namespace)
        let bytes = try backend.usage(of: device.id, comparedTo: parent).exclusiveBytes
        var inodes: Int64 = 0
        if let mount = device.hostMount {
            let space = try system("cannot read the filesystem at \(mount.directory)") { () throws(SystemCallError) in try Files.space(mount.directory) }
            inodes = space.totalInodes - space.freeInodes - (try superblockInodes(parent, filesystem(of: device)) ?? 0)
        } else if let own = try superblockInodes(device.id, filesystem(of: device)) {
            inodes = own - (try superblockInodes(parent, filesystem(of: device)) ?? 0)
        }
        return SnapshotUsage(size: bytes, inodes: max(0, inodes))
    }

    /// Used inodes of `device`'s filesystem (the same type as the snapshot's: a parent or origin).
    private func superblockInodes(_ device: UInt32?, _ filesystem: FilesystemType) throws(StorageError) -> Int64? {
        guard let device, device != 0, backend.providesBlockDevices else { return nil }
        let bytes = try backend.readBytes(of: device, offset: 0, count: FilesystemType.superblockBytes)
        return filesystem.usedInodes(superblock: bytes)
    }

    /// An active snapshot or view and its device; committed snapshots have no mounts.
    private func mountable(_ key: String, _ namespace: String) throws(StorageError) -> (SnapshotRecord, DeviceRecord) {
        try validateName(key, "snapshot key")
        return try store.read { (txn) throws(StorageError) -> (SnapshotRecord, DeviceRecord) in
            let record = try requireSnapshot(key, in: namespace, txn)
            guard record.kind != .committed else {
                throw StorageError(.failedPrecondition, "snapshot \(StorageError.quoted(key)) is committed and has no mounts; create a view of it")
            }
            return (record, try requireDevice(of: record, txn))
        }
    }

    /// The mounts of an attached active snapshot or view, from the store alone; nil when its
    /// device must be attached first (`mounts`).
    func attachedMounts(_ key: String, in namespace: String) throws(StorageError) -> [Mount]? {
        let (record, device) = try mountable(key, namespace)
        return device.state == .active ? mounts(for: device, kind: record.kind) : nil
    }

    /// The mounts of an active snapshot or view, attaching its device again if it was detached (after a reboot).
    func mounts(_ key: String, in namespace: String) throws(StorageError) -> [Mount] {
        let (record, device) = try mountable(key, namespace)
        if device.state == .active { return mounts(for: device, kind: record.kind) }
        return mounts(for: try activate(device.id), kind: record.kind)
    }

    /// Pool space, metadata space and counts.
    /// Space upkeep after changes: the space of deleted devices back to the host, the pool grown
    /// when it grows by itself, warnings as it fills.
    func keepSpace() throws(StorageError) {
        try takeStoredSpacePolicy()
        if let bytes = try backend.returnFreedSpace(force: false, settle: .zero) {
            logger.debug("handed freed pool space back to the host", metadata: ["discarded": "\(ByteCount.format(Int64(bytes)))"])
        }
        try backend.watchSpace()
    }

    func status() throws(StorageError) -> PoolStatus {
        let (namespaces, byState, queued, volumeBytes) = try store.read { (txn) throws(StorageError) -> ([String: Int], [String: Int], Int, UInt64) in
            var namespaces: [String: Int] = [:]
            var volumeDevices: [UInt32] = []
            try txn.forEachSnapshot { (snapshot) throws(StorageError) -> Bool in
                namespaces[snapshot.namespace, default: 0] += 1
                if snapshot.namespace == VolumeSet.namespace { volumeDevices.append(snapshot.deviceID) }
                return true
            }
            var volumeBytes: UInt64 = 0
            for id in volumeDevices { volumeBytes += try txn.device(id: id)?.sizeBytes ?? 0 }
            var byState: [String: Int] = [:]
            var queued = 0
            try txn.forEachDevice { (device) throws(StorageError) -> Bool in
                byState["\(device.state)", default: 0] += 1
                if device.state == .removing && device.owner == nil { queued += 1 }
                return true
            }
            return (namespaces, byState, queued, volumeBytes)
        }
        let metadata = try store.spaceUsage()
        return PoolStatus(backend: backend.kind, layout: backend.layout, filesystem: filesystem, defaultDeviceSize: record.defaultDeviceSize,
                          data: try backend.dataSpace(), metadata: SpaceUsage(usedBytes: metadata.used, totalBytes: metadata.total),
                          poolMetadata: try backend.metadataSpace(), snapshots: namespaces.values.reduce(0, +),
                          snapshotsByNamespace: namespaces, volumes: namespaces[VolumeSet.namespace] ?? 0, volumeBytes: volumeBytes,
                          devices: byState.values.reduce(0, +), faultyDevices: byState["\(DeviceState.faulty)"] ?? 0, host: try backend.hostSpace(),
                          minFree: backend.minFree, autoGrow: backend.spacePolicy?.autoGrow, devicesByState: byState, queuedForDeletion: queued)
    }
}

/// Reading and relabelling snapshots.
extension StorageEngine {
    /// The snapshot `key` (an active or view key, or a committed name).
    public func stat(_ key: String) throws(StorageError) -> SnapshotInfo {
        try store.read { (txn) throws(StorageError) -> SnapshotInfo in
            try info(try requireSnapshot(key, in: txn), in: txn)
        }
    }

    /// The snapshot with its device record and host mount, for administrators.
    public func inspect(_ key: String) throws(StorageError) -> SnapshotDetails {
        let (record, details) = try store.read { (txn) throws(StorageError) -> (SnapshotRecord, SnapshotDetails) in
            let record = try requireSnapshot(key, in: txn)
            return (record, SnapshotDetails(info: try info(record, in: txn), device: try txn.device(id: record.deviceID)))
        }
        var result = details
        result.mountedAt = mounts.directory(record.id)
        return result
    }

    /// Changes labels: `fieldPaths` empty or `labels` replaces all of them; `labels.NAME` sets or
    /// (when absent from `info`) deletes one. Other fields are immutable.
    public func update(_ info: SnapshotInfo, fieldPaths: [String] = []) throws(StorageError) -> SnapshotInfo {
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
            var record = try requireSnapshot(info.name, in: txn)
            var labels = replaceAll ? info.labels : record.labels
            for key in single { labels[key] = info.labels[key] }
            try validateLabels(labels)
            record.labels = labels
            record.updated = nowNanoseconds()
            try txn.putSnapshot(record)
            return try self.info(record, in: txn)
        }
    }

    /// Visits every snapshot matching `filter`, in creation order, from one consistent view of the store.
    public func walk(_ filter: SnapshotFilter = .all, _ body: (SnapshotInfo) throws(StorageError) -> Void) throws(StorageError) {
        try store.read { (txn) throws(StorageError) in
            var parentNames: [UInt64: String] = [:]
            try txn.forEachSnapshot { (record) throws(StorageError) -> Bool in
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

    /// Every snapshot matching `filter`.
    public func list(_ filter: SnapshotFilter = .all) throws(StorageError) -> [SnapshotInfo] {
        var result: [SnapshotInfo] = []
        try walk(filter) { result.append($0) }
        return result
    }

    /// The snapshot, its device and its parent's device (the base device when it has no parent).
    private func deviceAndParent(_ key: String) throws(StorageError) -> (SnapshotRecord, DeviceRecord, UInt32) {
        try store.read { (txn) throws(StorageError) -> (SnapshotRecord, DeviceRecord, UInt32) in
            let record = try requireSnapshot(key, in: txn)
            let device = try requireDevice(of: record, in: txn)
            let parent = try txn.snapshot(id: record.parentID)?.deviceID ?? config.baseDeviceID
            return (record, device, parent)
        }
    }

    /// Bytes of the snapshot's device written since it left its parent, and bytes still shared with it.
    public func deviceUsage(_ key: String) throws(StorageError) -> DeviceUsage {
        let (_, device, parentDevice) = try deviceAndParent(key)
        return try backend.usage(of: device.id, comparedTo: parentDevice)
    }

    /// Space the snapshot holds of its own: bytes not shared with its parent, and inodes added.
    public func usage(_ key: String) throws(StorageError) -> SnapshotUsage {
        let (record, device, parentDevice) = try deviceAndParent(key)
        let bytes = try backend.usage(of: device.id, comparedTo: parentDevice).exclusiveBytes
        var inodes: Int64 = 0
        if let directory = mounts.directory(record.id) {
            inodes = usedInodes(mountedAt: directory) - (try superblockInodes(parentDevice) ?? 0)
        } else if let own = try superblockInodes(device.id) {
            inodes = own - (try superblockInodes(parentDevice) ?? 0)
        }
        return SnapshotUsage(size: bytes, inodes: max(0, inodes))
    }

    private func superblockInodes(_ device: UInt32) throws(StorageError) -> Int64? {
        guard device != 0, backend.providesBlockDevices else { return nil }
        let bytes = try backend.readBytes(of: device, offset: 0, count: FilesystemType.superblockBytes)
        return config.filesystem.usedInodes(superblock: bytes)
    }

    /// The mounts of an active snapshot or view whose device is attached, read from the store
    /// without touching the kernel; nil when the device must be attached first (use `mounts`).
    public func attachedMounts(_ key: String) throws(StorageError) -> [Mount]? {
        let (record, device) = try mountable(key)
        return device.state == .active ? mountsFor(device, kind: record.kind) : nil
    }

    /// The mounts of an active snapshot or view, attaching its device again if it was detached (after a reboot).
    public func mounts(_ key: String) throws(StorageError) -> [Mount] {
        let (record, device) = try mountable(key)
        if device.state == .active { return mountsFor(device, kind: record.kind) }
        return mountsFor(try activate(device.id), kind: record.kind)
    }

    /// An active snapshot or view and its device; committed snapshots have no mounts.
    private func mountable(_ key: String) throws(StorageError) -> (SnapshotRecord, DeviceRecord) {
        try validateName(key, "snapshot key")
        let (record, device) = try snapshotAndDevice(key)
        guard record.kind != .committed else {
            throw StorageError(.failedPrecondition, "snapshot \(StorageError.quoted(key)) is committed and has no mounts; create a view of it")
        }
        return (record, device)
    }

    /// Pool space, metadata space and counts.
    public func status() throws(StorageError) -> PoolStatus {
        let (snapshots, devices, faulty) = try store.read { (txn) throws(StorageError) -> (Int, Int, Int) in
            var devices = 0
            var faulty = 0
            try txn.forEachDevice { (device) throws(StorageError) -> Bool in
                devices += 1
                if device.state == .faulty { faulty += 1 }
                return true
            }
            return (try txn.snapshotCount(), devices, faulty)
        }
        let metadata = try store.environment.spaceUsage()
        return PoolStatus(backend: config.backend, layout: config.layout, filesystem: config.filesystem,
                          defaultDeviceSize: config.defaultDeviceSize, data: try backend.dataSpace(),
                          metadata: SpaceUsage(usedBytes: metadata.used, totalBytes: metadata.total),
                          poolMetadata: try backend.metadataSpace(), snapshots: snapshots, devices: devices, faultyDevices: faulty)
    }
}

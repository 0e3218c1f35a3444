import KBSSystem

/// Growing an active snapshot's device while it stays attached and in use, and its filesystem
/// where the engine may touch it.
///
/// The new size is recorded before the device grows: a device longer than its record says is
/// harmless, a record longer than its filesystem too (reattached, the device is just longer), but
/// a filesystem longer than the device its record attaches would not mount. No trying state is
/// needed: growing is idempotent, and the device's lock keeps attach, detach and mounts out.
extension Pool {
    private struct ResizePlan: TransitionPlan {
        /// With the new size.
        var device: DeviceRecord
        var previous: DeviceRecord
        var moving: [DeviceRecord] { [] }
    }

    /// Grows the active snapshot `key`'s device to `size` bytes (attaching it first when it is
    /// detached), then its filesystem as `growth` says. The same size again grows only what did
    /// not grow before (a filesystem left to a guest). Devices never shrink.
    func resize(_ key: String, in namespace: String, to size: UInt64, growth: FilesystemGrowth) throws(StorageError) -> ResizeOutcome {
        try validateName(key, "snapshot key")
        let current = try store.read { (txn) throws(StorageError) -> DeviceRecord in
            try requireDevice(of: try requireResizable(key, namespace, size, txn), txn)
        }
        if current.state != .active { try activate(current.id) }
        return try transition("resize") { (txn) throws(StorageError) -> ResizePlan in
            let snapshot = try requireResizable(key, namespace, size, txn)
            var device = try requireDevice(of: snapshot, txn)
            try requireSettled(device)
            guard device.state == .active else {
                throw StorageError(.unavailable, "snapshot \(StorageError.quoted(key)) was detached while being resized", remedy: .retry)
            }
            let previous = device
            device.sizeBytes = size
            try txn.putDevice(device)
            return ResizePlan(device: device, previous: previous)
        } work: { (plan) throws(StorageError) -> ResizeOutcome in
            let device = plan.device
            try withDeviceLock(device.id) { () throws(StorageError) in try backend.growAttached(device.id, path: device.path, to: device.sizeBytes) }
            let outcome = try growFilesystem(of: device, growth)
            logger.info("snapshot resized", metadata: [
                "namespace": "\(namespace)", "key": "\(StorageError.quoted(key))", "bytes": "\(device.sizeBytes)",
                "previousBytes": "\(plan.previous.sizeBytes)", "filesystem": "\(outcome.detail)",
            ])
            return outcome
        } finish: { (_, _, _) throws(StorageError) in
        } revert: { (plan) throws(StorageError) -> ResizePlan in
            plan
        } restore: { (plan, txn) throws(StorageError) in
            // The device may be longer now; its filesystem is not, so the old size is still true of it.
            guard var device = try txn.device(id: plan.device.id) else { return }
            device.sizeBytes = plan.previous.sizeBytes
            try txn.putDevice(device)
        }
    }

    private func requireResizable(_ key: String, _ namespace: String, _ size: UInt64, _ txn: borrowing GraphTransaction) throws(StorageError) -> SnapshotRecord {
        let snapshot = try requireSnapshot(key, in: namespace, txn)
        guard snapshot.kind == .active else {
            throw StorageError(.failedPrecondition, "snapshot \(StorageError.quoted(key)) is \(snapshot.kind); only active (writable) snapshots grow")
        }
        let device = try requireDevice(of: snapshot, txn)
        guard size >= device.sizeBytes else {
            throw StorageError(.invalidArgument, "\(ByteCount.format(Int64(size))) is below the device's \(ByteCount.format(Int64(device.sizeBytes))) of \(StorageError.quoted(key)); devices only grow")
        }
        return snapshot
    }

    /// Grows the filesystem on the attached `device` to fill it, where that is safe from here.
    private func growFilesystem(of device: DeviceRecord, _ growth: FilesystemGrowth) throws(StorageError) -> ResizeOutcome {
        let filesystem = filesystem(of: device)
        func outcome(_ grown: Bool, _ detail: String) -> ResizeOutcome {
            ResizeOutcome(sizeBytes: device.sizeBytes, filesystemGrown: grown, detail: detail)
        }
        guard backend.providesBlockDevices else { return outcome(true, "no filesystem to grow in this backend") }
        if let mount = device.hostMount {
            guard !mount.readOnly else { return outcome(false, "mounted read-only at \(mount.directory): grow it after it is unmounted") }
            try filesystem.growMounted(device.path, at: mount.directory)
            return outcome(true, "grown online at \(mount.directory)")
        }
        guard growth == .engine else { return outcome(false, "left to whoever uses \(device.path): grow the \(filesystem.rawValue) filesystem there") }
        let holders = try system("cannot tell who has \(device.path) open") { () throws(SystemCallError) in try DeviceHolders.holders(of: device.path) }
        if !holders.isEmpty {
            let names = holders.map { "\($0.command) (pid \($0.pid))" }.joined(separator: ", ")
            return outcome(false, "\(device.path) is open by \(names): grow the \(filesystem.rawValue) filesystem where it is used, or again here once it is released")
        }
        let mounted = try system("cannot read the mount table") { () throws(SystemCallError) in try Mounts.mountPoints(ofDevice: device.path) }
        if let directory = mounted.first {
            try filesystem.growMounted(device.path, at: directory)
            return outcome(true, "grown online at \(directory)")
        }
        try withDeviceLock(device.id) { () throws(StorageError) in
            try filesystem.growChecked(device.path, scratch: "\(mountsDirectory)/grow-\(device.id)")
        }
        return outcome(true, "grown")
    }
}

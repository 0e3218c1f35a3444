import KBSSystem

/// Host mounts of snapshot filesystems made by the engine (containers/storage's Get and Put),
/// counted in the device's record so that every process sees the same count: a Put from any
/// process releases what a Get in another made, and a commit or remove sees it in its own
/// transaction. Mount points are `<state>/mounts/<snapshot id>`.
extension Pool {
    private struct MountPlan: TransitionPlan {
        var device: DeviceRecord
        var previous: DeviceRecord
        /// Only the count changed (already mounted, or not the last Put): no kernel work.
        var countOnly: Bool
        var moving: [DeviceRecord] { countOnly ? [] : [device] }
    }

    /// Mounts the snapshot's filesystem (read-only unless it is active and `options` do not say
    /// `ro`) and returns the directory. `options` are mount(8) words (`nosuid,nodev,noexec`...);
    /// the first caller's apply, later callers share its mount. Counted: every call needs one
    /// `unmountFilesystem`. A recorded mount that is no longer there (unmounted behind the
    /// engine's back) is made again, as it was.
    func mountFilesystem(_ key: String, in namespace: String, options: [String] = []) throws(StorageError) -> String {
        let requested = MountFlags.parse(options)
        guard backend.providesBlockDevices else {
            throw StorageError(.unavailable, "the \(backend.kind) backend has no mountable devices")
        }
        let recorded = try store.read { (txn) throws(StorageError) -> HostMount? in
            try requireDevice(of: try requireSnapshot(key, in: namespace, txn), txn).hostMount
        }
        let stale = try recorded.map { (mount) throws(StorageError) -> Bool in
            !(try system("cannot read the mount table") { () throws(SystemCallError) in try Mounts.isMountPoint(mount.directory) })
        } ?? false
        let plan = try transition("mount", trying: .processCrashSafe, outcome: .processCrashSafe) { (txn) throws(StorageError) -> MountPlan in
            let snapshot = try requireSnapshot(key, in: namespace, txn)
            let previous = try requireDevice(of: snapshot, txn)
            try requireSettled(previous)
            var device = previous
            if var mount = previous.hostMount {
                mount.count += 1
                device.hostMount = mount
                guard stale else {
                    try txn.putDevice(device)
                    return MountPlan(device: device, previous: previous, countOnly: true)
                }
            } else {
                let readOnly = snapshot.kind != .active || previous.readOnly || requested.flags.contains(.readOnly)
                device.hostMount = HostMount(directory: "\(mountsDirectory)/\(snapshot.id)", count: 1, readOnly: readOnly,
                                             detachAfter: previous.state != .active,
                                             flags: requested.flags.subtracting(.readOnly), options: requested.data)
            }
            guard device.state.canMove(to: .mounting) else {
                throw StorageError(.failedPrecondition, "the device of \(StorageError.quoted(key)) is \(device.state) and cannot be mounted", remedy: .checkPool)
            }
            try device.move(to: .mounting)
            return MountPlan(device: device, previous: previous, countOnly: false)
        } work: { (plan) throws(StorageError) -> MountPlan in
            guard !plan.countOnly, let mount = plan.device.hostMount else { return plan }
            var done = plan
            let path = try withDeviceLock(plan.device.id) { () throws(StorageError) -> String in
                let path = try recordedAttachment(plan.previous).or { () throws(StorageError) in
                    try backend.activate(plan.device.id, size: plan.device.sizeBytes, readOnly: mount.readOnly)
                }
                try mountFilesystem(path, mount, filesystem(of: plan.device))
                return path
            }
            try done.device.move(to: .active, path: path)
            return done
        } finish: { (_, done, txn) throws(StorageError) in
            if !done.countOnly { try txn.putDevice(done.device) }
        } revert: { (plan) throws(StorageError) -> MountPlan in
            try undoMount(plan.device, previous: plan.previous)
            return plan
        } restore: { (plan, txn) throws(StorageError) in
            try txn.putDevice(plan.previous)
        }
        return plan.device.hostMount!.directory
    }

    /// Drops one host mount of the snapshot; the last one unmounts it (from any process), and
    /// detaches the device when it was attached for the mount.
    func unmountFilesystem(_ key: String, in namespace: String) throws(StorageError) {
        try transition("unmount", trying: .processCrashSafe, outcome: .processCrashSafe) { (txn) throws(StorageError) -> MountPlan in
            let previous = try requireDevice(of: try requireSnapshot(key, in: namespace, txn), txn)
            try requireSettled(previous)
            guard var mount = previous.hostMount else {
                throw StorageError(.failedPrecondition, "snapshot \(StorageError.quoted(key)) is not mounted on the host")
            }
            var device = previous
            if mount.count > 1 {
                mount.count -= 1
                device.hostMount = mount
                try txn.putDevice(device)
                return MountPlan(device: device, previous: previous, countOnly: true)
            }
            try device.move(to: .unmounting)
            return MountPlan(device: device, previous: previous, countOnly: false)
        } work: { (plan) throws(StorageError) in
            guard !plan.countOnly, let mount = plan.previous.hostMount else { return }
            try unmountHostMount(mount, of: plan.device)
        } finish: { (plan, _, txn) throws(StorageError) in
            guard !plan.countOnly, let mount = plan.previous.hostMount else { return }
            var device = plan.device
            device.hostMount = nil
            try device.move(to: mount.detachAfter ? .inactive : .active)
            try txn.putDevice(device)
        } revert: { (plan) throws(StorageError) -> MountPlan in
            // Put back what the record still says: mounted, on an attached device.
            guard !plan.countOnly, let mount = plan.previous.hostMount else { return plan }
            var again = plan
            if let reattached = try reattachIfDetached(plan.previous) { again.previous = reattached }
            try withDeviceLock(plan.device.id) { () throws(StorageError) in try mountFilesystem(again.previous.path, mount, filesystem(of: plan.device)) }
            return again
        } restore: { (plan, txn) throws(StorageError) in
            try txn.putDevice(plan.previous)
        }
    }

    /// Unmounts `mount` (if it is still there), removes its directory, and detaches the device
    /// when it was attached for the mount.
    func unmountHostMount(_ mount: HostMount, of device: DeviceRecord) throws(StorageError) {
        try withDeviceLock(device.id) { () throws(StorageError) in
            do throws(SystemCallError) {
                // A frozen filesystem outlives its unmount and keeps the device attached.
                if try Mounts.isMountPoint(mount.directory) { try FilesystemFreeze.thawLeftover(mountPoint: mount.directory) }
                _ = try Mounts.unmount(mount.directory)
            } catch where error.errno == .busy {
                throw StorageError(.busy, "\(mount.directory) is in use", remedy: .release, cause: error)
            } catch {
                throw StorageError(error, "cannot unmount \(mount.directory)")
            }
            try system("cannot remove \(mount.directory)") { () throws(SystemCallError) in _ = try Files.removeDirectory(mount.directory) }
            if mount.detachAfter, let path = try attachedPath(of: device) { try backend.deactivate(device.id, path: path) }
        }
    }

    /// Mounts the filesystem on `path` at `mount`'s directory, unless something is mounted there
    /// already. Called with the device's lock held: a clone of the device freezes its filesystem
    /// (suspending it), and a mount of a frozen block device is refused (EBUSY).
    private func mountFilesystem(_ path: String, _ mount: HostMount, _ filesystem: FilesystemType) throws(StorageError) {
        try system("cannot mount \(path) at \(mount.directory)") { () throws(SystemCallError) in
            try Files.makeDirectory(mount.directory)
            if try !Mounts.isMountPoint(mount.directory) {
                try Mounts.mount(path, at: mount.directory, type: filesystem.rawValue, readOnly: mount.readOnly, flags: mount.flags,
                                 options: filesystem.dataOptions(readOnly: mount.readOnly) + mount.options)
            }
        }
    }

    /// Undoes a half-made mount of `device` (`previous` is its record before the mount).
    func undoMount(_ device: DeviceRecord, previous: DeviceRecord) throws(StorageError) {
        guard let mount = device.hostMount, previous.hostMount == nil else { return }
        try unmountHostMount(mount, of: device)
    }

    /// The block device `device` is attached at right now, if its record says attached and it is.
    private func recordedAttachment(_ device: DeviceRecord) throws(StorageError) -> String? {
        guard device.state == .active, !device.path.isEmpty else { return nil }
        return try backend.isAttached(device.id, at: device.path) ? device.path : nil
    }
}

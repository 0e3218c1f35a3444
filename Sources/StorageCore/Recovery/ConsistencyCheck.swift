import KBSSystem

/// One inconsistency between the graph, its indexes, the device records and the backend.
public struct ConsistencyProblem: Sendable, Equatable, CustomStringConvertible {
    public var subject: String
    public var problem: String

    public var description: String { "\(subject): \(problem)" }
}

/// The pool check (a frontend's fsck): every invariant the engine relies on, changing nothing.
/// Devices in another live caller's operation are skipped: they are in the middle of a change.
extension Pool {
    func checkConsistency() throws(StorageError) -> [ConsistencyProblem] {
        var problems: [ConsistencyProblem] = []
        func report(_ subject: String, _ problem: String) { problems.append(ConsistencyProblem(subject: subject, problem: problem)) }
        // The kernel is looked at before and after the store is read, and only what both looks
        // contradict is reported: a change another process makes meanwhile (its record written
        // before the kernel work, its outcome after) agrees with one of them.
        let before = try observeKernel()
        var known = Set<UInt32>()
        var recordedMounts = Set<String>()
        var devices: [DeviceRecord] = []
        var snapshotIDs = Set<UInt64>()
        try store.read { (txn) throws(StorageError) in
            try txn.forEachSnapshot { (record) throws(StorageError) -> Bool in
                snapshotIDs.insert(record.id)
                try checkSnapshot(record, txn, report: report)
                return true
            }
            devices = try txn.allDevices()
        }
        let after = try observeKernel()
        // A record that changed meanwhile belongs to a change in progress: checked next time.
        let again = Dictionary(try store.read { (txn) throws(StorageError) in try txn.allDevices() }.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let kernel = KernelViews(before: before, after: after)
        for device in devices {
            known.insert(device.id)
            if let mount = device.hostMount { recordedMounts.insert(mount.directory) }
            if again[device.id] == device { checkDevice(device, snapshotIDs: snapshotIDs, kernel: kernel, report: report) }
        }
        known.formUnion(again.keys)
        recordedMounts.formUnion(again.values.compactMap { $0.hostMount?.directory })
        for orphan in kernel.presentInBoth.subtracting(known).sorted() where backend.ownsEveryDevice {
            report("device \(orphan)", "in the backend but in no record; a cleanup deletes it")
        }
        for (orphan, path) in kernel.attachedInBoth.sorted(by: { $0.key < $1.key }) where !known.contains(orphan) && backend.ownsEveryDevice {
            report("device \(orphan)", "attached at \(path) but in no record")
        }
        for directory in kernel.mountedInBoth.sorted() where directory.hasPrefix(mountsDirectory + "/") && !recordedMounts.contains(directory) {
            report("mount \(directory)", "a host mount of the pool that no record explains")
        }
        return problems
    }

    /// What the backend and the mount table hold at one moment.
    private struct KernelView {
        var present: Set<UInt32>
        var attached: [UInt32: String]
        var mounted: Set<String>
    }

    /// Two looks at the kernel, one on each side of the store read: what should be there counts if
    /// either saw it, what should not be there only if both did.
    private struct KernelViews {
        var before: KernelView
        var after: KernelView

        var presentInBoth: Set<UInt32> { before.present.intersection(after.present) }
        var attachedInBoth: [UInt32: String] { before.attached.filter { after.attached[$0.key] == $0.value } }
        var mountedInBoth: Set<String> { before.mounted.intersection(after.mounted) }

        func present(_ id: UInt32) -> Bool { before.present.contains(id) || after.present.contains(id) }
        func attached(_ id: UInt32, at path: String) -> Bool { before.attached[id] == path || after.attached[id] == path }
        func mounted(_ directory: String) -> Bool { before.mounted.contains(directory) || after.mounted.contains(directory) }
        /// Attached somewhere else than `path` in both looks.
        func attachedElsewhere(_ id: UInt32, than path: String) -> String? {
            guard let a = before.attached[id], let b = after.attached[id], a != path, b != path else { return nil }
            return b
        }
    }

    private func observeKernel() throws(StorageError) -> KernelView {
        KernelView(present: try backend.deviceIDs(), attached: try backend.attachedDevices(),
                   mounted: Set(try system("cannot read the mount table") { () throws(SystemCallError) in try Mounts.table() }.map(\.mountPoint)))
    }

    private func checkSnapshot(_ record: SnapshotRecord, _ txn: borrowing GraphTransaction, report: (String, String) -> Void) throws(StorageError) {
        let subject = "snapshot \(StorageError.quoted(record.name)) in \(record.namespace)"
        if try txn.snapshot(named: record.name, in: record.namespace)?.id != record.id { report(subject, "the name index does not lead to it") }
        if record.parentID != 0 {
            if let parent = try txn.snapshot(id: record.parentID) {
                if parent.kind != .committed { report(subject, "parent \(StorageError.quoted(parent.name)) is \(parent.kind)") }
                if parent.namespace != record.namespace { report(subject, "parent \(StorageError.quoted(parent.name)) is in namespace \(parent.namespace)") }
                if !(try txn.children(of: record.parentID).contains(record.id)) { report(subject, "missing from its parent's children") }
            } else {
                report(subject, "parent \(record.parentID) does not exist")
            }
        }
        guard let device = try txn.device(id: record.deviceID) else {
            report(subject, "device \(record.deviceID) has no record")
            return
        }
        if device.snapshotID != record.id { report(subject, "device \(device.id) belongs to snapshot \(device.snapshotID)") }
    }

    private func checkDevice(_ device: DeviceRecord, snapshotIDs: Set<UInt64>, kernel: KernelViews, report: (String, String) -> Void) {
        let subject = "device \(device.id)"
        if device.state.isTrying {
            let seen = InFlightDevice(id: device.id, state: device.state, owner: device.owner)
            if device.state == .removing && device.owner == nil && !snapshotIDs.contains(device.snapshotID) {
                return  // its snapshot was removed; maintenance deletes it
            }
            if isAbandoned(seen) {
                report(subject, "left \(device.state) by an interrupted call (\(device.owner.map { "\($0)" } ?? "no owner")); the next open or maintenance pass finishes it")
            }
            return  // another caller's change in progress
        }
        if device.snapshotID == 0 {
            if device.id != record.baseDeviceID { report(subject, "belongs to no snapshot") }
        } else if !snapshotIDs.contains(device.snapshotID) {
            report(subject, "its snapshot \(device.snapshotID) does not exist")
        }
        if device.state == .faulty { report(subject, "faulty: \(device.fault)") }
        if !kernel.present(device.id) { report(subject, "missing from the \(backend.kind) backend") }
        if device.state == .active && !kernel.attached(device.id, at: device.path) {
            report(subject, "recorded as attached at \(device.path) but is \(kernel.after.attached[device.id].map { "at \($0)" } ?? "detached")")
        }
        if device.state == .inactive, let path = kernel.attachedElsewhere(device.id, than: device.path) {
            report(subject, "recorded as detached but is attached at \(path)")
        }
        if let mount = device.hostMount, !kernel.mounted(mount.directory) {
            report(subject, "recorded as mounted at \(mount.directory) (\(mount.count) users) but it is not; the next mount or reboot repairs it")
        }
    }
}

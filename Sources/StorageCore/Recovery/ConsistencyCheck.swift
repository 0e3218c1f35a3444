/// One inconsistency between the graph, its indexes, the device records and the backend.
public struct ConsistencyProblem: Sendable, Equatable, CustomStringConvertible {
    public var subject: String
    public var problem: String

    public var description: String { "\(subject): \(problem)" }
}

/// `snapctl fsck`: checks every invariant the engine relies on, changing nothing.
extension StorageEngine {
    public func checkConsistency() throws(StorageError) -> [ConsistencyProblem] {
        var problems: [ConsistencyProblem] = []
        func report(_ subject: String, _ problem: String) { problems.append(ConsistencyProblem(subject: subject, problem: problem)) }
        let present = try backend.deviceIDs()
        let attached = try backend.attachedDevices()
        try store.read { (txn) throws(StorageError) in
            var snapshotIDs = Set<UInt64>()
            try txn.forEachSnapshot { (record) throws(StorageError) -> Bool in
                let subject = "snapshot \(StorageError.quoted(record.name))"
                snapshotIDs.insert(record.id)
                if try txn.snapshot(named: record.name)?.id != record.id { report(subject, "name index does not lead to it") }
                if record.parentID != 0 {
                    if let parent = try txn.snapshot(id: record.parentID) {
                        if parent.kind != .committed { report(subject, "parent \(StorageError.quoted(parent.name)) is \(parent.kind)") }
                        if !(try txn.children(of: record.parentID).contains(record.id)) { report(subject, "missing from its parent's children") }
                    } else {
                        report(subject, "parent \(record.parentID) does not exist")
                    }
                }
                guard let device = try txn.device(id: record.deviceID) else {
                    report(subject, "device \(record.deviceID) has no record")
                    return true
                }
                if device.snapshotID != record.id { report(subject, "device \(device.id) belongs to snapshot \(device.snapshotID)") }
                return true
            }
            var known = Set<UInt32>()
            try txn.forEachDevice { (device) throws(StorageError) -> Bool in
                known.insert(device.id)
                let subject = "device \(device.id)"
                if device.state == .removing, !snapshotIDs.contains(device.snapshotID) {
                    return true  // its snapshot was removed; the device is deleted in the background
                }
                if device.snapshotID == 0 {
                    if device.id != config.baseDeviceID { report(subject, "belongs to no snapshot") }
                } else if !snapshotIDs.contains(device.snapshotID) {
                    report(subject, "its snapshot \(device.snapshotID) does not exist")
                }
                if device.state.isTrying { report(subject, "left \(device.state) by an interrupted call; reopen the pool to finish it") }
                if device.state == .faulty { report(subject, "faulty: \(device.fault)") }
                if !present.contains(device.id) && device.state != .creating {
                    report(subject, "missing from the \(backend.kind) backend")
                }
                if device.state == .active && attached[device.id] != device.path {
                    report(subject, "recorded as attached at \(device.path) but is \(attached[device.id].map { "at \($0)" } ?? "detached")")
                }
                if device.state == .inactive, let path = attached[device.id], path != device.path {
                    report(subject, "recorded as detached but is attached at \(path)")
                }
                return true
            }
            for orphan in present.subtracting(known).sorted() where backend.ownsEveryDevice {
                report("device \(orphan)", "in the backend but in no record; `snapctl cleanup` deletes it")
            }
        }
        return problems
    }
}

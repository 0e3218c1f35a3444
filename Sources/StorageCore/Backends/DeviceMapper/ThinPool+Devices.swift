import Foundation
import KBSDeviceMapper
import KBSSystem

/// Thin devices: create, snapshot, attach, detach, delete.
extension ThinPool {
    func thinName(_ id: UInt32) -> String { "\(poolName)-thin-\(id)" }

    func createDevice(_ id: UInt32, size: UInt64) throws(StorageError) {
        try guardFreeSpace()
        try makeThin(id, "create_thin \(id)")
    }

    func snapshotDevice(_ id: UInt32, from origin: UInt32, originPath: String?) throws(StorageError) {
        try guardFreeSpace()
        // The kernel requires an active origin to be suspended (its filesystem frozen) around
        // create_snap. One nobody has open and that is on its way out takes no I/O: no suspend.
        let originName = thinName(origin)
        guard let info = try info(originName), !info.suspended, !(info.deferredRemove && info.openCount == 0) else {
            return try makeThin(id, "create_snap \(id) \(origin)")
        }
        try deviceMapper("cannot suspend \(originName)") { () throws(DeviceMapperError) in try DeviceMapper.suspend(originName) }
        let snapped = Result { () throws(StorageError) in try makeThin(id, "create_snap \(id) \(origin)") }
        try deviceMapper("cannot resume \(originName)") { () throws(DeviceMapperError) in try DeviceMapper.resume(originName) }
        try snapped.get()
    }

    /// Thin devices take their size from the activation table: nothing to do until then.
    func grow(_ id: UInt32, to size: UInt64) throws(StorageError) {}

    /// A longer table, swapped in by a suspend (which waits for in-flight I/O) and a resume.
    func growAttached(_ id: UInt32, path: String, to size: UInt64) throws(StorageError) {
        let name = thinName(id)
        try deviceMapper("cannot grow thin device \(id)") { () throws(DeviceMapperError) in
            try DeviceMapper.load(name, table: thinTable(id, bytes: size))
            try DeviceMapper.suspend(name)
            try DeviceMapper.resume(name)
        }
    }

    func activate(_ id: UInt32, size: UInt64, readOnly: Bool) throws(StorageError) -> String {
        let name = thinName(id)
        if let info = try info(name) {
            guard info.deferredRemove else { return DeviceMapper.path(of: name) }
            guard info.openCount == 0, try waitForRemoval(name) else {
                throw StorageError(.busy, "device \(id) is still open from an earlier attach that is being removed", remedy: .release)
            }
        }
        try deviceMapper("cannot attach thin device \(id)") { () throws(DeviceMapperError) in
            try DeviceMapper.create(name, table: thinTable(id, bytes: size), readOnly: readOnly)
        }
        return DeviceMapper.path(of: name)
    }

    /// The table that maps thin device `id` of this pool as a block device of `bytes`.
    func thinTable(_ id: UInt32, bytes: UInt64) -> [DeviceMapper.Target] {
        [.init(start: 0, sectors: (bytes + 511) / 512, type: "thin", parameters: "\(poolPath) \(id)")]
    }

    /// Detaches without waiting for the kernel's teardown of the block device (tens of ms of RCU
    /// grace periods): the device is held open across a deferred remove, and closing it hands the
    /// removal to the kernel's deferred-remove worker. A device someone else still has open (a
    /// mount, a guest) goes when they close it; then the result is true.
    @discardableResult
    func deactivate(_ id: UInt32, path: String) throws(StorageError) -> Bool {
        let name = thinName(id)
        guard path == DeviceMapper.path(of: name), let info = try info(name) else { return false }
        if info.deferredRemove { return info.openCount > 0 }
        var opened = true
        do throws(StorageError) {
            try FileDescriptor.withOpened(path, .readOnly, mapError: { (error) -> StorageError in
                opened = false
                return StorageError(error, "cannot open \(path)")
            }) { (_) throws(StorageError) in
                try deviceMapper("cannot detach thin device \(id)") { () throws(DeviceMapperError) in try DeviceMapper.remove(name, deferred: true) }
            }
        } catch where !opened {
            // No node to hold open: remove and wait.
            try deviceMapper("cannot detach thin device \(id)") { () throws(DeviceMapperError) in try DeviceMapper.remove(name) }
        }
        if info.openCount > 0 {
            logger.info("device busy; removal deferred to its last close", metadata: ["device": "\(name)"])
            return true
        }
        return false
    }

    func deleteDevice(_ id: UInt32) throws(StorageError) {
        let name = thinName(id)
        if let info = try info(name) {
            let leaving = info.deferredRemove && info.openCount == 0
            let gone = leaving && !backgroundDeletion.load(ordering: .relaxed) ? try waitForRemoval(name) : false
            if !gone {
                throw StorageError(.busy, "device \(id) is still open\(info.deferredRemove ? " (removal deferred to its last close)" : ""); it is deleted once its user closes it",
                                   remedy: .release)
            }
        }
        // Its blocks to the data device first. Beside a reaper that is its work, off the call
        // path: the device is queued. From then on the deletion only goes forward.
        if try needsDiscard(id) {
            if backgroundDeletion.load(ordering: .relaxed) {
                throw StorageError(.busy, "device \(id) is deleted in the background once its blocks are discarded", remedy: .retry)
            }
            try discardBlocks(of: id)
        }
        let discardedNow = discarded.withLock { $0.remove(id) != nil }
        do throws(StorageError) {
            // A device whose removal just finished may hold its thin device a moment longer (the
            // name goes before the table): a busy delete is retried briefly.
            try whileBusy { () throws(StorageError) in
                do throws(StorageError) {
                    try changeMetadata("delete \(id)")
                } catch where (error.cause as? DeviceMapperError)?.errno == .noData {
                    return  // never created, or deleted already
                }
            }
        } catch where discardedNow && error.code != .busy {
            // Its data is gone: the snapshot must not come back. Queued, the delete is retried.
            throw StorageError(.busy, "the pool refused to delete device \(id) after its blocks were discarded; it stays queued for deletion", remedy: .retry, cause: error)
        }
    }

    func setBackgroundDeletion(_ enabled: Bool) { backgroundDeletion.store(enabled, ordering: .relaxed) }

    func attachedDevices() throws(StorageError) -> [UInt32: String] {
        let prefix = "\(poolName)-thin-"
        var result: [UInt32: String] = [:]
        for name in try deviceMapper("cannot list devices", { () throws(DeviceMapperError) in try DeviceMapper.names() }) where name.hasPrefix(prefix) {
            guard let id = UInt32(name.dropFirst(prefix.count)), let info = try info(name), !info.deferredRemove else { continue }
            result[id] = DeviceMapper.path(of: name)
        }
        return result
    }

    func attachedPath(of id: UInt32) throws(StorageError) -> String? {
        guard let info = try info(thinName(id)), !info.deferredRemove else { return nil }
        return DeviceMapper.path(of: thinName(id))
    }

    func isAttached(_ id: UInt32, at path: String) throws(StorageError) -> Bool {
        guard path == DeviceMapper.path(of: thinName(id)) else { return false }
        return try attachedPath(of: id) != nil
    }

    func readBytes(of id: UInt32, offset: Int64, count: Int) throws(StorageError) -> [UInt8] {
        let name = thinName(id)
        if try info(name) != nil { return try read(DeviceMapper.path(of: name), offset: offset, count: count) }
        // Not attached: a short read-only activation under a name of its own.
        return try withShortActivation(of: id, as: "peek", bytes: UInt64(offset) + UInt64(count) + (1 << 20), readOnly: true) { (_, path) throws(StorageError) in
            try read(path, offset: offset, count: count)
        }
    }

    private func read(_ path: String, offset: Int64, count: Int) throws(StorageError) -> [UInt8] {
        try system("cannot read \(path)") { () throws(SystemCallError) -> [UInt8] in
            try FileDescriptor.withOpened(path, .readOnly) { (fd) throws(SystemCallError) in try fd.read(count: count, at: offset) }
        }
    }

    func info(_ name: String) throws(StorageError) -> DeviceMapper.Info? {
        try deviceMapper("cannot look up \(name)") { () throws(DeviceMapperError) in try DeviceMapper.info(name) }
    }

    /// Makes thin device `id` with `message`; in a pool shared with another user the id may be
    /// theirs already: say so (a retry takes the next id) rather than "already exists".
    func makeThin(_ id: UInt32, _ message: String) throws(StorageError) {
        do throws(StorageError) {
            try changeMetadata(message)
        } catch where error.code == .alreadyExists {
            throw StorageError(.unavailable, "thin device id \(id) is already taken in pool \(poolName) (by another user of the pool, or a device left behind)",
                               remedy: .retry, cause: error)
        }
    }

    /// Advances the pool's transaction id, then sends the change; the two go together under the
    /// pool's metadata lock, which every process using the pool takes.
    private func changeMetadata(_ text: String) throws(StorageError) {
        try whileMetadataLocked { () throws(StorageError) in
            try advanceTransaction()
            try deviceMapper("thin-pool \(poolName) refused \"\(text)\"") { () throws(DeviceMapperError) in try DeviceMapper.message(poolName, text) }
        }
    }

    /// Moves the pool's transaction id on by one (a metadata commit); call with the metadata lock
    /// held. The current id is read from the pool each time: another process may have moved it.
    func advanceTransaction() throws(StorageError) {
        let current = try status().transactionID
        try deviceMapper("cannot advance the transaction id of \(poolName)") { () throws(DeviceMapperError) in
            try DeviceMapper.message(poolName, "set_transaction_id \(current) \(current + 1)")
        }
        lastTransactionID.store(current + 1, ordering: .relaxed)
    }
}

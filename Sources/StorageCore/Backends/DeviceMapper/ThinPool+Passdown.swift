import KBSDeviceMapper
import KBSSystem

/// A deleted thin device's blocks handed down to the pool's data device. A `delete` message
/// frees the device's blocks in the pool's metadata only: the data device (a loop file on the
/// host, an SSD) is never told, so the host file keeps them allocated. Discarding the device
/// whole first unmaps its blocks, and a pool that passes discards down discards on the data
/// device those no other device shares (a parent's or a snapshot's blocks stay).
extension ThinPool {
    /// The virtual size of a short activation that must cover whatever a device maps.
    static let wholeDeviceBytes: UInt64 = 1 << 48

    /// Discards device `id`'s blocks unless it is attached (its delete would wait anyway) or they
    /// need no discard; remembered, so that its delete goes straight on. A failure is logged and
    /// the delete goes on without: the blocks are freed in the pool all the same.
    func discardBlocks(of id: UInt32) throws(StorageError) {
        guard try needsDiscard(id), try info(thinName(id)) == nil else { return }
        // One process at a time per device: another one's reaper may be at the same device.
        try FileLock.withExclusive(discardLockFile, slot: id, mapError: { StorageError($0, "cannot lock device \(id) to discard it") }) { () throws(StorageError) in
            do throws(StorageError) {
                try withShortActivation(of: id, as: "discard", bytes: Self.wholeDeviceBytes, readOnly: false) { (name, path) throws(StorageError) in
                    guard let end = try mappedEnd(of: name) else { return }  // maps nothing
                    try system("cannot discard the blocks of thin device \(id)") { () throws(SystemCallError) in
                        try BlockDiscard.discard(path, length: end)
                    }
                }
            } catch where (error.cause as? DeviceMapperError)?.errno == .noData {
                // never created, or deleted already: its delete says the same
            } catch {
                logger.warning("the blocks of a deleted device were not discarded; the pool's data device keeps them allocated until they are reused",
                               metadata: ["pool": "\(poolName)", "device": "\(id)", "error": "\(error)"])
            }
        }
        discarded.withLock { _ = $0.insert(id) }
    }

    /// Whether device `id`'s blocks are still to be discarded before its delete: the pool passes
    /// discards down and this process has not discarded them yet.
    func needsDiscard(_ id: UInt32) throws(StorageError) -> Bool {
        guard discardsDeletions.load(ordering: .relaxed), !discarded.withLock({ $0.contains(id) }) else { return false }
        return try status().passesDiscardsDown
    }

    /// The byte just past the highest block device `name` maps; nil when it maps nothing.
    func mappedEnd(of name: String) throws(StorageError) -> UInt64? {
        let line = try deviceMapper("cannot read the status of \(name)") { () throws(DeviceMapperError) in try DeviceMapper.status(name) }.first
        guard line?.type == "thin" else { throw StorageError(.unavailable, "\(name) is not a thin device", remedy: .checkPool) }
        return try Self.mappedEnd(thinStatus: line?.parameters ?? "")
    }

    /// Parses a `thin` status line, "<mapped sectors> <highest mapped sector>" ("-" when nothing
    /// is mapped), into the byte just past the highest mapped sector.
    static func mappedEnd(thinStatus: String) throws(StorageError) -> UInt64? {
        let fields = thinStatus.split(separator: " ")
        guard fields.count >= 2, UInt64(fields[0]) != nil, fields[1] == "-" || UInt64(fields[1]) != nil else {
            throw StorageError(.unavailable, "cannot read the thin device status \"\(thinStatus)\"", remedy: .checkPool)
        }
        return UInt64(fields[1]).map { ($0 + 1) * 512 }
    }

    /// Runs `body` with device `id` activated for a moment under a name of its own
    /// ("<pool>-<purpose>-<id>"), removed again afterwards (one left by a crash is removed first).
    func withShortActivation<R>(of id: UInt32, as purpose: String, bytes: UInt64, readOnly: Bool,
                                _ body: (_ name: String, _ path: String) throws(StorageError) -> R) throws(StorageError) -> R {
        let name = "\(poolName)-\(purpose)-\(id)"
        try deviceMapper("cannot attach thin device \(id) to \(purpose) it") { () throws(DeviceMapperError) in
            if try DeviceMapper.info(name) != nil { try DeviceMapper.remove(name) }
            try DeviceMapper.create(name, table: thinTable(id, bytes: bytes), readOnly: readOnly)
        }
        let result = Result { () throws(StorageError) in try body(name, DeviceMapper.path(of: name)) }
        try whileBusy { () throws(StorageError) in
            try deviceMapper("cannot detach \(name)") { () throws(DeviceMapperError) in try DeviceMapper.remove(name) }
        }
        return try result.get()
    }

    /// A pool destroyed with its files need not hand their blocks back first.
    func prepareToDestroy() {
        if case .files = settings.source { discardsDeletions.store(false, ordering: .relaxed) }
    }
}

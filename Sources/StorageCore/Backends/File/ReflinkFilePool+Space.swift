import KBSSystem

/// The file pool's space: the `min_free` guard, growth (by hand and by itself), and handing the
/// space of deleted images back to the host.
///
/// An XFS pool file is sparse on the host: deleting an image frees its blocks in the pool's
/// filesystem but not in the host's file until the pool's filesystem discards them (FITRIM, down
/// through its loop device, punches them out of the file). The pool never offers more free space
/// than the host has: growth is refused when the host filesystem could not back it.
extension ReflinkFilePool {
    /// Refuses a new device below `min_free`, growing the pool first when it grows by itself.
    func guardFreeSpace() throws(StorageError) {
        try space.requireFree(try spaceAfterGrowth(), "data", grow: growHint)
    }


    func watchSpace() throws(StorageError) { _ = try spaceAfterGrowth() }

    /// The data space, after growing the pool when it grows by itself and has fallen below its
    /// threshold; a warning is logged for every level crossed.
    private func spaceAfterGrowth() throws(StorageError) -> SpaceUsage {
        try space.afterGrowth(current: try dataSpace()) { (growth) throws(StorageError) in
            try grow { (size) in growth.target(from: size) ?? size }
        }
    }

    private var growHint: String {
        switch settings.layout {
        case .native: "the images sit on the host filesystem under \(directory): free space there"
        case .xfsFile where space.growth != nil: "it grows by itself while the host filesystem has room and it is below its limit, and can be grown by hand"
        case .xfsFile: "the pool file can be grown"
        }
    }

    func growPool(to size: UInt64) throws(StorageError) -> SpaceUsage {
        guard settings.layout == .xfsFile else {
            throw StorageError(.failedPrecondition, "the images sit directly on the filesystem under \(directory); the pool is as large as that filesystem")
        }
        return try grow { (current) throws(StorageError) in
            guard size >= current else {
                throw StorageError(.invalidArgument, "the pool file is \(ByteCount.format(Int64(current))) already; pools only grow")
            }
            return size
        }
    }

    /// Grows the pool file to `target(current size)` under the pool's lock (another process may
    /// have grown it meanwhile: the target is worked out from the size found there): the file,
    /// its loop device, then the XFS in it, all while mounted and in use.
    private func grow(_ target: (UInt64) throws(StorageError) -> UInt64) throws(StorageError) -> SpaceUsage {
        let (from, to) = try whileLocked { () throws(StorageError) -> (UInt64, UInt64) in
            let current = try poolFileSize()
            let size = try target(current) / 4096 * 4096
            guard size > current else { return (current, current) }
            let pool = try dataSpace()
            let host = try system("cannot read the space of \(directory)") { () throws(SystemCallError) in try Files.space(directory) }
            try SpaceGuard.requireHostRoom(host, at: directory, for: pool, adding: Int64(size - current), size: size)
            try system("cannot grow the pool file \(xfsFile)") { () throws(SystemCallError) in
                try Files.sizeFile(xfsFile, to: size, creating: false)
                guard let loop = try LoopDevice.attachments().first(where: { $0.file == xfsFile })?.device else {
                    throw SystemCallError(operation: "find the loop device of \(xfsFile)", errno: .noSuchDeviceOrAddress)
                }
                try LoopDevice.refreshCapacity(loop)
            }
            try tool("cannot grow the pool's filesystem at \(xfsMount)", "xfs_growfs", [xfsMount])
            return (current, size)
        }
        if to > from {
            logger.notice("grew the pool file", metadata: ["pool": "\(directory)", "from": "\(ByteCount.format(Int64(from)))", "to": "\(ByteCount.format(Int64(to)))"])
        }
        return try dataSpace()
    }

    private func poolFileSize() throws(StorageError) -> UInt64 {
        guard let status = try system("cannot read \(xfsFile)", { () throws(SystemCallError) in try Files.status(xfsFile) }) else {
            throw StorageError.inconsistent("the pool file \(xfsFile) is missing")
        }
        return UInt64(status.size)
    }

    /// Marks the pool as holding freed space the host has not got back yet, for every process
    /// using the pool: touched by every deletion, its age tells when the last one was.
    var trimMarker: EventMarker { EventMarker("\(directory)/trim-pending") }

    /// Called when an image was deleted. Its extents become discardable only once the pool's
    /// filesystem has finished freeing them in the background (about 0.1 s here), so the
    /// discard happens later: in the daemon's upkeep pass, or when a command asks for it.
    func spaceFreed() {
        guard settings.layout == .xfsFile else { return }
        do throws(SystemCallError) {
            try trimMarker.touch()
        } catch {
            logger.warning("cannot mark freed pool space for the host; `snapctl pool trim` hands it back", metadata: ["error": "\(error)"])
        }
    }

    /// Discards the pool filesystem's free extents when a deletion marked it (or always, with
    /// `force`), once the last deletion is `settle` old. The mark stays until a discard starts two
    /// seconds after the last deletion: extents still being freed at the time of a discard are
    /// skipped by it, and the next pass gets them.
    func returnFreedSpace(force: Bool, settle: Duration) throws(StorageError) -> UInt64? {
        guard settings.layout == .xfsFile else { return nil }
        return try system("cannot hand the free space of \(xfsMount) back to the host") { () throws(SystemCallError) -> UInt64? in
            let pending = try trimMarker.lastTime() != nil
            guard force || pending else { return nil }
            try trimMarker.waitUntil(age: settle.nanoseconds)
            let marked = try trimMarker.lastTime()
            let started = WallClock.nanosecondsSinceEpoch()
            let trimmed: UInt64
            do throws(SystemCallError) {
                trimmed = try FilesystemTrim.trim(mountPoint: xfsMount)
            } catch where error.errno == .notSupported || error.errno == .notTTY {
                // The pool's loop device cannot discard (its file's filesystem cannot punch holes):
                // nothing can be handed back; said once per deletion, not every pass.
                if let marked { try trimMarker.clear(seen: marked) }
                logger.notice("the pool file's filesystem cannot punch holes; freed space stays in the pool file", metadata: ["file": "\(xfsFile)"])
                return nil
            }
            if let marked, started - marked >= 2_000_000_000 { try trimMarker.clear(seen: marked) }
            return trimmed
        }
    }

    func hostSpace() throws(StorageError) -> HostSpace? {
        guard settings.layout == .xfsFile else { return nil }
        return try system("cannot read the pool file \(xfsFile)") { () throws(SystemCallError) -> HostSpace? in
            guard let file = try Files.status(xfsFile) else { return nil }
            return HostSpace(allocatedBytes: file.allocatedBytes, hostFreeBytes: try Files.space(directory).freeBytes,
                             filesystemOverheadBytes: settings.emptyUsedBytes)
        }
    }
}

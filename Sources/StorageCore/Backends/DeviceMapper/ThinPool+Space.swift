import KBSDeviceMapper
import KBSSystem

/// The thin-pool's space: the `min_free` guard on data and metadata, warnings as it fills, and
/// growth of its data (and metadata) devices while thin devices are in use.
extension ThinPool {
    /// Refuses new devices while free data or metadata space is below `min_free`, or while the
    /// pool is out of space or read-only already.
    func guardFreeSpace() throws(StorageError) {
        let s = try status()
        if s.mode != "rw" || s.needsCheck {
            throw StorageError(.noSpace, "thin-pool \(poolName) is \(s.needsCheck ? "marked needs_check" : s.mode); free space or repair it with thin_check",
                               remedy: .freeSpace)
        }
        var (data, metadata) = spaces(s)
        if try spaceAfterGrowth(data) != data { (data, metadata) = spaces(try status()) }
        try space.requireFree(data, "data", grow: growHint)
        try space.requireFree(metadata, "metadata", grow: growHint)
    }


    /// What a pool made from files occupies on the host: its data and metadata files (the data
    /// file shrinks when deleted devices' blocks are discarded down to it).
    func hostSpace() throws(StorageError) -> HostSpace? {
        guard case .files(let data, let metadata) = settings.source else { return nil }
        return try system("cannot read the thin-pool's files") { () throws(SystemCallError) -> HostSpace? in
            guard let dataFile = try Files.status(data), let metadataFile = try Files.status(metadata) else { return nil }
            return HostSpace(allocatedBytes: dataFile.allocatedBytes + metadataFile.allocatedBytes, hostFreeBytes: try Files.space(data).freeBytes,
                             filesystemOverheadBytes: nil)
        }
    }

    func watchSpace() throws(StorageError) { _ = try spaceAfterGrowth(spaces(try status()).data) }

    /// The data space, after growing the pool by a step when it grows by itself and has fallen
    /// below its threshold; a warning is logged for every level crossed.
    private func spaceAfterGrowth(_ data: SpaceUsage) throws(StorageError) -> SpaceUsage {
        try space.afterGrowth(current: data) { (growth) throws(StorageError) in
            try grow { (bytes) in growth.target(from: bytes) ?? bytes }
        }
    }

    private func spaces(_ s: ThinPoolStatus) -> (data: SpaceUsage, metadata: SpaceUsage) {
        (SpaceUsage(usedBytes: Int64(s.usedDataBlocks * settings.dataBlockSize), totalBytes: Int64(s.totalDataBlocks * settings.dataBlockSize)),
         SpaceUsage(usedBytes: Int64(s.usedMetadataBlocks * ThinPoolStatus.metadataBlockSize),
                    totalBytes: Int64(s.totalMetadataBlocks * ThinPoolStatus.metadataBlockSize)))
    }

    private var growHint: String {
        switch settings.source {
        case .existing: "the pool is managed outside kata-block: extend it there (lvextend)"
        case .files: "its data file can be grown"
        case .devices: "grow its data device, then the pool"
        }
    }

    /// Grows the pool's data space to `size` bytes: made from files, both files grow (metadata by
    /// the same formula as at creation) and their loop devices take the new sizes; made from
    /// devices, the data device must have grown already. Then a longer table is loaded and swapped
    /// in by a suspend and resume of the pool (in-flight I/O completes first; the kernel takes a
    /// larger metadata device at the resume).
    func growPool(to size: UInt64) throws(StorageError) -> SpaceUsage {
        try grow { (current) throws(StorageError) in
            guard size >= current else {
                throw StorageError(.invalidArgument, "the pool's data space is \(ByteCount.format(Int64(current))) already; pools only grow")
            }
            return size
        }
    }

    /// Grows the data space to `target(current bytes)`, worked out under the metadata lock
    /// (another process may have grown it meanwhile).
    private func grow(_ target: (UInt64) throws(StorageError) -> UInt64) throws(StorageError) -> SpaceUsage {
        try whileMetadataLocked { () throws(StorageError) in
            let devices = try poolDevices()
            let current = try status().totalDataBlocks
            let blocks = try target(current * settings.dataBlockSize) / settings.dataBlockSize
            guard blocks > current else { return }
            let dataDevice = devices.data
            switch settings.source {
            case .existing:
                throw StorageError(.failedPrecondition, "thin-pool \(poolName) is managed outside kata-block; extend it there (lvextend)")
            case .devices:
                let available = try Self.byteSize(of: dataDevice)
                guard blocks * settings.dataBlockSize <= available else {
                    throw StorageError(.invalidArgument, "the data device \(dataDevice) holds \(ByteCount.format(Int64(available))); grow it first")
                }
            case .files(let data, let metadata):
                try growFiles(data: data, metadata: metadata, to: blocks * settings.dataBlockSize, devices: devices)
            }
            let table = poolTable(metadata: devices.metadata, data: devices.data, dataBlocks: blocks)
            try deviceMapper("cannot load the longer table of \(poolName)") { () throws(DeviceMapperError) in
                try DeviceMapper.load(poolName, table: [table])
                try DeviceMapper.suspend(poolName)
                try DeviceMapper.resume(poolName)
            }
            logger.notice("grew the thin-pool", metadata: ["pool": "\(poolName)", "from": "\(ByteCount.format(Int64(current * settings.dataBlockSize)))",
                                                           "to": "\(ByteCount.format(Int64(blocks * settings.dataBlockSize)))"])
        }
        return try dataSpace()
    }

    /// Grows the data and metadata files, refusing when the host filesystem could not back the
    /// space the pool would then offer.
    private func growFiles(data: String, metadata: String, to size: UInt64, devices: (metadata: String, data: String)) throws(StorageError) {
        let host = try system("cannot read the space under \(data)") { () throws(SystemCallError) in try Files.space(data) }
        let pool = try dataSpace()
        try SpaceGuard.requireHostRoom(host, at: data, for: pool, adding: Int64(size) - pool.totalBytes, size: size)
        let metadataSize = ThinPoolSettings.metadataSize(dataSize: size, dataBlockSize: settings.dataBlockSize)
        try system("cannot grow the thin-pool's files") { () throws(SystemCallError) in
            try Files.sizeFile(data, to: size, creating: false)
            try LoopDevice.refreshCapacity(devices.data)
            if let current = try Files.status(metadata)?.size, UInt64(current) < metadataSize {
                try Files.sizeFile(metadata, to: metadataSize, creating: false)
                try LoopDevice.refreshCapacity(devices.metadata)
            }
        }
    }
}

import Glibc

/// What the pool's metadata says, read by thin-provisioning-tools from a metadata snapshot of
/// the live pool: which thin devices exist and which blocks each maps.
extension ThinPool {
    public func deviceIDs() throws(StorageError) -> Set<UInt32> {
        Set(try listDevices().map(\.id))
    }

    /// Bytes that differ from `base` (blocks the device maps differently or alone: `thin_delta`),
    /// or without a base, blocks no other device maps (`thin_ls` exclusive); shared is the rest.
    public func usage(of id: UInt32, comparedTo base: UInt32?) throws(StorageError) -> DeviceUsage {
        try withMetadataSnapshot { (metadata) throws(StorageError) -> DeviceUsage in
            guard let entry = try Self.listDevices(metadata).first(where: { $0.id == id }) else {
                throw StorageError(.notFound, "device \(id) is not in thin-pool \(poolName)")
            }
            guard let base else {
                return DeviceUsage(exclusiveBytes: Int64(entry.exclusive), sharedBytes: Int64(entry.mapped - entry.exclusive))
            }
            let output = try ExternalTool.output("thin_delta", ["-m", "--snap1", "\(base)", "--snap2", "\(id)", metadata])
            let changed = ThinDelta.changedBlocks(output) * settings.dataBlockSize
            return DeviceUsage(exclusiveBytes: Int64(changed), sharedBytes: Int64(entry.mapped) - Int64(min(changed, entry.mapped)))
        }
    }

    /// Runs `body` with the metadata device path while a metadata snapshot is held, so the
    /// userspace tools read a consistent copy of the live pool's metadata.
    func withMetadataSnapshot<T>(_ body: (String) throws(StorageError) -> T) throws(StorageError) -> T {
        let metadata = try poolDevices().metadata
        return try metadataLock.withLock { (transaction) throws(StorageError) -> T in
            try reserveMetadataSnapshot()
            defer { try? DeviceMapper.message(poolName, "release_metadata_snap") }
            do throws(StorageError) {
                return try body(metadata)
            } catch where error.message.contains("no current metadata snap") {
                // The kernel notes the snapshot in its superblock at the next metadata commit,
                // which a pool with nothing changed yet has not made: advancing the transaction
                // id commits it.
                try advanceTransaction(&transaction)
                return try body(metadata)
            }
        }
    }

    /// Reserves the pool's one metadata snapshot. Another reader (thin_ls run by an admin) may
    /// hold it for a moment: wait up to ~2 s; one still held then was left by a process that died.
    private func reserveMetadataSnapshot() throws(StorageError) {
        for _ in 0..<40 {
            do throws(StorageError) {
                try DeviceMapper.message(poolName, "reserve_metadata_snap")
                return
            } catch where error.code == .busy {
                usleep(50_000)
            }
        }
        logger.warning("releasing a thin-pool metadata snapshot held for over 2 s", metadata: ["pool": "\(poolName)"])
        try DeviceMapper.message(poolName, "release_metadata_snap")
        try DeviceMapper.message(poolName, "reserve_metadata_snap")
    }

    private func listDevices() throws(StorageError) -> [(id: UInt32, mapped: UInt64, exclusive: UInt64)] {
        try withMetadataSnapshot { (metadata) throws(StorageError) in try Self.listDevices(metadata) }
    }

    private static func listDevices(_ metadata: String) throws(StorageError) -> [(id: UInt32, mapped: UInt64, exclusive: UInt64)] {
        let output = try ExternalTool.output("thin_ls", ["-m", "--no-headers", "-o", "DEV,MAPPED_BYTES,EXCLUSIVE_BYTES", metadata])
        return output.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count == 3, let id = UInt32(f[0]), let mapped = UInt64(f[1]), let exclusive = UInt64(f[2]) else { return nil }
            return (id, mapped, exclusive)
        }
    }

}

/// `thin_delta`'s XML report: how many blocks the second device maps differently from the first.
enum ThinDelta {
    static func changedBlocks(_ xml: String) -> UInt64 {
        var total: UInt64 = 0
        for line in xml.split(separator: "\n") {
            let text = line.drop(while: { $0 == " " })
            guard text.hasPrefix("<different") || text.hasPrefix("<right_only"),
                  let range = text.range(of: "length=\"") else { continue }
            total += UInt64(text[range.upperBound...].prefix(while: \.isNumber)) ?? 0
        }
        return total
    }
}


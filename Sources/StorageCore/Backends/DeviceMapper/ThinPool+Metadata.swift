import Foundation
import KBSDeviceMapper
import KBSSystem

/// What the pool's metadata says, read by thin-provisioning-tools from a metadata snapshot of
/// the live pool: which thin devices exist and which blocks each maps.
extension ThinPool {
    func deviceIDs() throws(StorageError) -> Set<UInt32> {
        try withMetadataSnapshot { (metadata) throws(StorageError) in Set(try Self.listDevices(metadata).map(\.id)) }
    }

    /// Bytes that differ from `base` (blocks the device maps differently or alone: `thin_delta`),
    /// or without a base, blocks no other device maps (`thin_ls` exclusive); shared is the rest.
    func usage(of id: UInt32, comparedTo base: UInt32?) throws(StorageError) -> DeviceUsage {
        try withMetadataSnapshot { (metadata) throws(StorageError) -> DeviceUsage in
            guard let entry = try Self.listDevices(metadata).first(where: { $0.id == id }) else {
                throw StorageError(.notFound, "device \(id) is not in thin-pool \(poolName)")
            }
            guard let base else {
                return DeviceUsage(exclusiveBytes: Int64(entry.exclusive), sharedBytes: Int64(entry.mapped - entry.exclusive))
            }
            let output = try tool("cannot compare thin devices \(base) and \(id)", "thin_delta",
                                  ["-m", "--snap1", "\(base)", "--snap2", "\(id)", metadata], captureOutput: true)
            let changed = ThinDelta.changedBlocks(output) * settings.dataBlockSize
            return DeviceUsage(exclusiveBytes: Int64(changed), sharedBytes: Int64(entry.mapped) - Int64(min(changed, entry.mapped)))
        }
    }

    /// Runs `body` with the metadata device path while a metadata snapshot is held, so the
    /// userspace tools read a consistent copy of the live pool's metadata. The kernel writes the
    /// snapshot into its superblock at the next metadata commit, which advancing the transaction
    /// id makes: the tools never find "no current metadata snap".
    func withMetadataSnapshot<T>(_ body: (String) throws(StorageError) -> T) throws(StorageError) -> T {
        let metadata = try poolDevices().metadata
        return try whileMetadataLocked { () throws(StorageError) -> T in
            try reserveMetadataSnapshot()
            let result = Result { () throws(StorageError) -> T in
                try advanceTransaction()
                return try body(metadata)
            }
            try deviceMapper("cannot release the metadata snapshot of \(poolName)") { () throws(DeviceMapperError) in
                try DeviceMapper.message(poolName, "release_metadata_snap")
            }
            return try result.get()
        }
    }

    /// Reserves the pool's one metadata snapshot. Another reader outside the engine (thin_ls run by
    /// an administrator) may hold it for a moment: waits up to ~2 s; one still held then was left
    /// by a process that died, and is released and taken again.
    private func reserveMetadataSnapshot() throws(StorageError) {
        for _ in 0..<40 {
            do throws(DeviceMapperError) {
                try DeviceMapper.message(poolName, "reserve_metadata_snap")
                return
            } catch where error.errno == .busy {
                Thread.sleep(forTimeInterval: 0.05)
            } catch {
                throw StorageError(error, "cannot take the metadata snapshot of \(poolName)")
            }
        }
        logger.warning("releasing a thin-pool metadata snapshot held for over 2 s", metadata: ["pool": "\(poolName)"])
        try deviceMapper("cannot take the metadata snapshot of \(poolName)") { () throws(DeviceMapperError) in
            try DeviceMapper.message(poolName, "release_metadata_snap")
            try DeviceMapper.message(poolName, "reserve_metadata_snap")
        }
    }

    private static func listDevices(_ metadata: String) throws(StorageError) -> [ThinDeviceEntry] {
        ThinDeviceEntry.parse(try tool("cannot list thin devices", "thin_ls",
                                       ["-m", "--no-headers", "-o", "DEV,MAPPED_BYTES,EXCLUSIVE_BYTES", metadata], captureOutput: true))
    }
}

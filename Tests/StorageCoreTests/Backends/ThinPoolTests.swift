import Foundation
import Glibc
import KBSDeviceMapper
import KBSSystem
import Testing
@testable import StorageCore

/// dm-thin specifics on a real kernel (the VM: KBS_DM_TESTS=1): a full pool, kernel errors,
/// the transaction-id check, and a pool brought back after a reboot.
@Suite("dm-thin pool", .serialized, .enabled(if: BackendChoice.dmTestsEnabled, "set KBS_DM_TESTS=1 (runs in the VM)"))
struct ThinPoolTests {
    /// Writes 1 MiB chunks into `path` until the filesystem or the pool refuses; returns bytes written.
    private func fill(_ path: String) -> Int {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0x5a, count: 1 << 20)
        var total = 0
        while true {
            let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            total += n
            if total % (32 << 20) == 0, fsync(fd) != 0 { break }
        }
        _ = fsync(fd)
        return total
    }

    @Test("a full pool fails writes fast, refuses new snapshots with noSpace, and works again once space is freed")
    func fullPool() async throws {
        try await withTestPool(.dmThin, deviceSize: 1 << 30, thinDataSize: 256 << 20) { pool in
        let e = pool.snapshots
        _ = try await e.prepare("keep")
        try await e.withMountedSnapshot("keep") { root in
            try Data("precious".utf8).write(to: URL(fileURLWithPath: "\(root)/kept"))
        }
        try await e.commit("kept", key: "keep")
        _ = try await e.prepare("hog", parent: "kept")
        // error_if_no_space: the writer gets an error instead of hanging on a queue.
        let written = try await e.withMountedSnapshot("hog") { root in fill("\(root)/big") }
        let thin = try #require(pool.pool.backend as? ThinPool)
        let space = try thin.dataSpace()
        #expect(written > 100 << 20, "wrote \(written) bytes")
        #expect(space.freeBytes < space.totalBytes / 10, "pool still has \(space.freeBytes) bytes free")

        try await expectRefused(.noSpace, in: pool) { _ = try await e.prepare("more", parent: "kept") }
        #expect(try e.stat("kept").kind == .committed)

        // Freeing the space makes the pool usable again, and what was stored is intact.
        try await e.remove("hog")
        let status = try thin.status()
        #expect(status.usedDataBlocks * thin.settings.dataBlockSize < 64 << 20, "space came back: \(status)")
        _ = try await e.prepare("more", parent: "kept")
        let text = try await e.withMountedSnapshot("more") { root in try String(contentsOfFile: "\(root)/kept", encoding: .utf8) }
        #expect(text == "precious")
        }
    }

    @Test("kernel refusals are typed: an existing thin id, a busy device, a missing device")
    func kernelErrors() async throws {
        try await withTestPool(.dmThin) { pool in
        let thin = try #require(pool.pool.backend as? ThinPool)
        let mounts = try await pool.snapshots.prepare("a")
        let device = try #require(try pool.snapshots.inspect("a").device)
        let taken = #expect(throws: StorageError.self) { try thin.createDevice(device.id, size: 1 << 30) }
        #expect(taken?.code == .unavailable && taken?.message.contains("already taken") == true, "\(String(describing: taken))")
        #expect((taken?.cause as? StorageError)?.code == .alreadyExists, "the kernel's EEXIST is the cause")
        let busy = #expect(throws: StorageError.self, "deleting an attached thin device succeeded") { try thin.deleteDevice(device.id) }
        #expect(busy?.code == .busy, "\(String(describing: busy))")
        try thin.deleteDevice(0xFF_FFF0)  // never created: deleting it is not an error
        #expect(mounts[0].source == DeviceMapper.path(of: thin.thinName(device.id)))
        }
    }

    @Test("a pool whose transaction id went back is refused at open and nothing is changed")
    func transactionIDDivergence() async throws {
        try await withTestPool(.dmThin) { pool in
        _ = try await pool.snapshots.prepare("a")
        let generation = try #require(try pool.pool.backend.currentGeneration())
        let store = pool.pool.store
        try await pool.engine.close()
        // The store remembers a later transaction than the pool has (as after restoring the
        // pool's metadata from an old copy).
        try store.write { (txn) throws(StorageError) in try txn.setMetaInteger("backendGeneration", generation + 3) }
        let refusal = await #expect(throws: StorageError.self, "a pool behind its store was opened") {
            _ = try await StorageEngine.open(stateDirectory: pool.state, logger: TestPool.logger)
        }
        #expect(refusal?.code == .failedPrecondition, "\(String(describing: refusal))")
        #expect(refusal?.message.contains("transaction id") == true)
        try store.write { (txn) throws(StorageError) in try txn.setMetaInteger("backendGeneration", generation) }
        try await pool.reopenAfterClose()
        #expect(try pool.snapshots.stat("a").kind == .active)
        }
    }

    @Test("after a reboot (pool table, thin devices and loop devices gone) opening brings everything back")
    func reboot() async throws {
        try await withTestPool(.dmThin) { pool in
        _ = try await pool.snapshots.prepare("a")
        try await pool.snapshots.withMountedSnapshot("a") { root in try Data("survives".utf8).write(to: URL(fileURLWithPath: "\(root)/f")) }
        let thin = try #require(pool.pool.backend as? ThinPool)
        try pool.pool.store.write { (txn) throws(StorageError) in try txn.setMetaString("boot", "an earlier boot") }
        try await pool.engine.close()
        for (id, path) in try thin.attachedDevices() { try thin.deactivate(id, path: path) }
        try thin.shutDown()
        #expect(try DeviceMapper.info(thin.settings.poolName) == nil)

        try await pool.reopenAfterClose()
        let device = try #require(try pool.snapshots.inspect("a").device)
        #expect(device.state == .active)
        let text = try await pool.snapshots.withMountedSnapshot("a") { root in try String(contentsOfFile: "\(root)/f", encoding: .utf8) }
        #expect(text == "survives")
        #expect(try await pool.engine.status().poolMetadata != nil)
        }
    }

    /// Two loop-attached scratch files standing in for block devices: (data, metadata).
    private func scratchDevices(_ dir: String) throws -> (data: String, metadata: String) {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (name, size) in [("data", 2 << 30), ("metadata", 16 << 20)] {
            #expect(FileManager.default.createFile(atPath: "\(dir)/\(name)", contents: nil))
            #expect(truncate("\(dir)/\(name)", off_t(size)) == 0)
        }
        return (try LoopDevice.attach("\(dir)/data", readOnly: false, directIO: true),
                try LoopDevice.attach("\(dir)/metadata", readOnly: false, directIO: true))
    }

    @Test("a pool made on two block devices: a stale metadata superblock is wiped, the devices are left attached at destroy")
    func blockDevices() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kbs-devs-\(UUID().uuidString)").path
        let devices = try scratchDevices(dir)
        defer {
            _ = try? LoopDevice.detach(devices.data)
            _ = try? LoopDevice.detach(devices.metadata)
            try? FileManager.default.removeItem(atPath: dir)
        }
        // Garbage where a thin-pool superblock would be.
        try FileDescriptor.withOpened(devices.metadata, .writeOnly) { (fd) throws(SystemCallError) in
            try fd.write([UInt8](repeating: 0xee, count: 4096), at: 0)
        }
        try await withTestPool(.dmThin, thinSource: .devices(data: devices.data, metadata: devices.metadata)) { pool in
            _ = try await pool.snapshots.prepare("a")
            try await pool.snapshots.withMountedSnapshot("a") { root in try Data("on devices".utf8).write(to: URL(fileURLWithPath: "\(root)/f")) }
            try await pool.snapshots.commit("A", key: "a")
            #expect(try await pool.snapshots.usage("A").size > 0)
            let status = try await pool.engine.status()
            #expect(status.backend == "dm-thin" && status.layout == "devices")
            #expect(status.data.totalBytes == 2 << 30)
        }
        #expect(try LoopDevice.backingFile(of: devices.data) != nil, "devices we did not attach stay attached")
    }

    @Test("an existing thin-pool is used by name and left in place when the pool is destroyed")
    func existingPool() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kbs-existing-\(UUID().uuidString)").path
        let devices = try scratchDevices(dir)
        let name = "kbs-existing-\(UUID().uuidString.prefix(8))"
        let table = DeviceMapper.Target(start: 0, sectors: (2 << 30) / 512, type: "thin-pool",
                                        parameters: "\(devices.metadata) \(devices.data) 128 1000 1 error_if_no_space")
        try DeviceMapper.create(name, table: [table], readOnly: false)
        defer {
            try? DeviceMapper.remove(name)
            _ = try? LoopDevice.detach(devices.data)
            _ = try? LoopDevice.detach(devices.metadata)
            try? FileManager.default.removeItem(atPath: dir)
        }
        // A pool nothing was written to yet: reading its metadata still works.
        let fresh = try ThinPool.open(ThinPoolSettings(poolName: name, source: .existing, dataBlockSize: 64 << 10, minFreeFraction: 0.1),
                                      directory: "\(dir)/fresh", logger: TestPool.logger)
        #expect(try fresh.deviceIDs() == [])
        // Another user's thin devices are already in the pool.
        for id in [1, 2, 7] { try DeviceMapper.message(name, "create_thin \(id)") }
        try await withTestPool(.dmThin, thinSource: .existing, thinPoolName: name) { pool in
            _ = try await pool.snapshots.prepare("a")
            #expect(try #require(try pool.snapshots.inspect("a").device).id > 7, "our ids start above the pool's own")
            #expect(try await pool.snapshots.mounts("a")[0].source.hasPrefix("/dev/mapper/\(name)-thin-"))
        }
        #expect(try DeviceMapper.info(name) != nil, "the existing pool is not ours to remove")
        for id in [1, 2, 7] { try DeviceMapper.message(name, "delete \(id)") }  // theirs are untouched
        #expect(throws: StorageError.self) {
            _ = try ThinPool.create(ThinPoolSettings(poolName: "kbs-missing-pool", source: .existing, dataBlockSize: 64 << 10, minFreeFraction: 0.1),
                                    dataSize: 0, directory: "\(dir)/missing", logger: TestPool.logger)
        }
    }
}

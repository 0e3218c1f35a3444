import KBSSystem
import Testing
@testable import StorageCore

@Suite("Record coding")
struct RecordCodingTests {
    private func decode<T>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(StorageError) -> T) throws(StorageError) -> T {
        try withKey(bytes, body)
    }

    @Test("snapshot records round-trip, with long names, labels and every kind")
    func snapshots() throws {
        for kind in SnapshotKind.allCases {
            let record = SnapshotRecord(id: 7, namespace: "containers-storage", name: String(repeating: "n", count: 3000), parentID: 3, kind: kind,
                                        deviceID: 9, created: -5, updated: 1_796_160_445_958_731_614, labels: ["a": "1", "é": "ü", "": ""])
            #expect(try decode(record.encoded()) { (raw) throws(StorageError) in try SnapshotRecord(decoding: raw) } == record)
        }
    }

    @Test("device records round-trip with and without owner, host mount and a filesystem of their own")
    func devices() throws {
        let owner = ProcessIdentity(bootID: "1b7c4c65-1a83-4f51-9b1c-1f7d0c1e2a3b", pid: 4242, startTime: 123_456)
        let records = [
            DeviceRecord(id: 1, snapshotID: 0, originID: 0, sizeBytes: 10 << 30, state: .inactive),
            DeviceRecord(id: 2, snapshotID: 5, originID: 1, sizeBytes: 1 << 30, state: .mounting, readOnly: true, path: "/dev/loop3",
                         owner: owner, hostMount: HostMount(directory: "/var/lib/kata-block/mounts/5", count: 3, readOnly: true, detachAfter: true,
                                                             flags: [.noSetuid, .noExecute], options: ["discard", "commit=5"])),
            DeviceRecord(id: 3, snapshotID: 6, originID: 1, sizeBytes: 1, state: .faulty, fault: "remove: EIO; undoing it: EIO"),
            DeviceRecord(id: 4, snapshotID: 7, originID: 0, sizeBytes: 300 << 20, state: .active, path: "/dev/loop9", filesystem: .xfs),
        ]
        for record in records {
            #expect(try decode(record.encoded()) { (raw) throws(StorageError) in try DeviceRecord(decoding: raw) } == record)
        }
        // Without a filesystem of its own a record is still written in format 3, which older releases read.
        #expect(records[0].encoded().first == 3)
        #expect(records[3].encoded().first == 4)
    }

    @Test("a schema 1 device record decodes with no owner and no host mount")
    func legacyDevice() throws {
        var w = RecordWriter()
        w.write(UInt8(1)); w.write(UInt32(4)); w.write(UInt64(8)); w.write(UInt32(1)); w.write(UInt64(1 << 30))
        w.write(DeviceState.active.rawValue); w.write(true); w.write("/dev/loop2"); w.write("")
        let record = try decode(w.bytes) { (raw) throws(StorageError) in try DeviceRecord(decoding: raw, legacy: true) }
        #expect(record == DeviceRecord(id: 4, snapshotID: 8, originID: 1, sizeBytes: 1 << 30, state: .active, readOnly: true, path: "/dev/loop2"))
        // Without the upgrade path, format 1 is not accepted as current.
        #expect(throws: StorageError.self) { _ = try decode(w.bytes) { (raw) throws(StorageError) in try DeviceRecord(decoding: raw) } }
    }

    @Test("pool records round-trip")
    func pools() throws {
        let record = PoolRecord(backendKind: "dm-thin", backendSettings: Array("{\"poolName\":\"p\"}".utf8), filesystem: .xfs,
                                defaultDeviceSize: 10 << 30, baseDeviceID: 1)
        #expect(try decode(record.encoded()) { (raw) throws(StorageError) in try PoolRecord(decoding: raw) } == record)
    }

    @Test("truncated records and records from a newer release are refused with what to do")
    func damaged() throws {
        let bytes = SnapshotRecord(id: 1, namespace: "n", name: "x", parentID: 0, kind: .active, deviceID: 1, created: 0, updated: 0, labels: ["k": "v"]).encoded()
        for cut in [1, 10, bytes.count - 1] {
            let error = #expect(throws: StorageError.self) { _ = try decode(Array(bytes.prefix(cut))) { (raw) throws(StorageError) in try SnapshotRecord(decoding: raw) } }
            #expect(error?.remedy == .checkPool)
        }
        var newer = bytes
        newer[0] = 9
        let error = #expect(throws: StorageError.self) { _ = try decode(newer) { (raw) throws(StorageError) in try SnapshotRecord(decoding: raw) } }
        #expect(error?.remedy == .upgrade)
    }

    @Test("name keys keep namespaces apart and hash long names")
    func nameKeys() {
        #expect(GraphStore.nameKey("a", "bc") != GraphStore.nameKey("ab", "c"))
        let long = GraphStore.nameKey("containerd", String(repeating: "x", count: 5000))
        #expect(long.count == GraphStore.maxInlineNameBytes)
        #expect(long != GraphStore.nameKey("containerd", String(repeating: "x", count: 4999) + "y"))
    }
}

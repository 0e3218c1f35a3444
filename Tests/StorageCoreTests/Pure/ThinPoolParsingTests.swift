import Testing
@testable import StorageCore

@Suite("Thin-pool reports")
struct ThinPoolParsingTests {
    @Test("the status line gives the transaction id, use and mode")
    func status() throws {
        let s = try ThinPoolStatus(parameters: "17 291/4096 1200/65536 - rw discard_passdown queue_if_no_space - 1024")
        #expect(s.transactionID == 17)
        #expect(s.usedMetadataBlocks == 291 && s.totalMetadataBlocks == 4096)
        #expect(s.usedDataBlocks == 1200 && s.totalDataBlocks == 65536)
        #expect(s.mode == "rw" && !s.needsCheck && s.passesDiscardsDown)
        let free = s.freeFraction()
        #expect(abs(free.data - (1 - 1200.0 / 65536)) < 1e-9)
        let full = try ThinPoolStatus(parameters: "3 1/10 10/10 - out_of_data_space no_discard_passdown error_if_no_space needs_check 10")
        #expect(full.needsCheck && !full.passesDiscardsDown)
        #expect(try !ThinPoolStatus(parameters: "3 1/10 1/10 - rw ignore_discard error_if_no_space - 10").passesDiscardsDown)
    }

    @Test("a thin device's status gives the end of what it maps")
    func thinStatus() throws {
        #expect(try ThinPool.mappedEnd(thinStatus: "0 -") == nil)
        #expect(try ThinPool.mappedEnd(thinStatus: "131072 131071") == 64 << 20)
        for bad in ["Fail", "", "12 x", "- -"] {
            #expect(throws: StorageError.self) { _ = try ThinPool.mappedEnd(thinStatus: bad) }
        }
    }

    @Test("a failed pool and garbage are errors")
    func badStatus() {
        let failed = #expect(throws: StorageError.self) { _ = try ThinPoolStatus(parameters: "Fail") }
        #expect(failed?.code == .unavailable)
        #expect(throws: StorageError.self) { _ = try ThinPoolStatus(parameters: "x 1/2") }
    }

    @Test("thin_delta's report counts blocks that differ or are only in the second device")
    func delta() {
        let xml = """
            <superblock uuid="" time="1" transaction="2" data_block_size="128" nr_data_blocks="0">
              <diff left="1" right="2">
                <same begin="0" length="10"/>
                <different begin="10" length="5"/>
                <right_only begin="15" length="3"/>
                <left_only begin="18" length="100"/>
              </diff>
            </superblock>
            """
        #expect(ThinDelta.changedBlocks(xml) == 8)
        #expect(ThinDelta.changedBlocks("") == 0)
    }

    @Test("thin_ls lines give each device's mapped and exclusive bytes")
    func ls() {
        let entries = ThinDeviceEntry.parse("1 1048576 0\n  2   2097152  65536\nnot a line\n")
        #expect(entries == [ThinDeviceEntry(id: 1, mapped: 1 << 20, exclusive: 0), ThinDeviceEntry(id: 2, mapped: 2 << 20, exclusive: 64 << 10)])
    }

    @Test("metadata is sized by the kernel guide's formula, within its bounds")
    func metadataSize() {
        #expect(ThinPoolSettings.metadataSize(dataSize: 64 << 30, dataBlockSize: 64 << 10) == 48 * ((64 << 30) / (64 << 10)))
        #expect(ThinPoolSettings.metadataSize(dataSize: 1 << 20, dataBlockSize: 64 << 10) == 2 << 20)
        #expect(ThinPoolSettings.metadataSize(dataSize: UInt64(1) << 50, dataBlockSize: 64 << 10) == 16 << 30)
    }

    @Test("settings are checked before anything is made")
    func settings() {
        let good = ThinPoolSettings(poolName: "p", source: .existing, dataBlockSize: 64 << 10, minFreeFraction: 0.1)
        #expect(throws: Never.self) { try good.validate() }
        for bad in [ThinPoolSettings(poolName: "", source: .existing, dataBlockSize: 64 << 10, minFreeFraction: 0.1),
                    ThinPoolSettings(poolName: "a/b", source: .existing, dataBlockSize: 64 << 10, minFreeFraction: 0.1),
                    ThinPoolSettings(poolName: "p", source: .existing, dataBlockSize: 96 << 10, minFreeFraction: 0.1),
                    ThinPoolSettings(poolName: "p", source: .existing, dataBlockSize: 64 << 10, minFreeFraction: 1)] {
            #expect(throws: StorageError.self) { try bad.validate() }
        }
    }
}

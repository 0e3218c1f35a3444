import KBSSystem
import Testing
@testable import StorageCore

@Suite("Extent comparison")
struct ExtentComparisonTests {
    private func extent(_ logical: UInt64, _ physical: UInt64, _ length: UInt64, shared: Bool = false) -> Reflink.Extent {
        Reflink.Extent(logical: logical, physical: physical, length: length, shared: shared)
    }

    @Test("bytes at the same place as the base's are shared; the rest are the file's own")
    func againstBase() {
        let base = [extent(0, 1000, 100), extent(200, 5000, 100)]
        let mine = [extent(0, 1000, 50), extent(50, 9000, 50), extent(200, 5050, 50), extent(250, 5050, 50)]
        // 0..<50 shared; 50..<100 rewritten; 200..<250 moved (not shared); 250..<300 same place as base's 250.
        let usage = ExtentComparison.usage(mine, comparedTo: base)
        #expect(usage.sharedBytes == 100)
        #expect(usage.exclusiveBytes == 100)
    }

    @Test("without a base, extents flagged shared are shared")
    func noBase() {
        let usage = ExtentComparison.usage([extent(0, 0, 4096, shared: true), extent(4096, 8192, 8192)], comparedTo: nil)
        #expect(usage == DeviceUsage(exclusiveBytes: 8192, sharedBytes: 4096))
        #expect(ExtentComparison.usage([], comparedTo: []) == DeviceUsage(exclusiveBytes: 0, sharedBytes: 0))
    }
}

import Testing
@testable import StorageCore

@Suite("Byte counts")
struct ByteCountTests {
    @Test("sizes parse with binary and decimal units", arguments: [
        ("10GiB", UInt64(10) << 30), ("512MiB", 512 << 20), ("4G", 4 << 30), ("64KiB", 64 << 10), ("1048576", 1 << 20),
        (" 2 TiB ", 2 << 40), ("1GB", 1_000_000_000), ("3B", 3), ("0", 0),
    ])
    func parses(_ text: String, _ bytes: UInt64) {
        #expect(ByteCount.parse(text) == bytes)
    }

    @Test("non-sizes and overflows are refused", arguments: ["", "lots", "10 GiBs", "-1", "1.5GiB", "99999999999TiB", "GiB"])
    func refuses(_ text: String) {
        #expect(ByteCount.parse(text) == nil)
    }

    @Test("sizes format for people")
    func formats() {
        #expect(ByteCount.format(512) == "512B")
        #expect(ByteCount.format(1536) == "1.5KiB")
        #expect(ByteCount.format(10 << 30) == "10.0GiB")
        #expect(ByteCount.format(-2048) == "-2.0KiB")
    }
}

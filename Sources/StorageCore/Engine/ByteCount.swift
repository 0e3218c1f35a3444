import Foundation

/// Human sizes: "20GiB", "512MiB", "4G", "1048576".
public enum ByteCount {
    private static let units: [(String, UInt64)] = [
        ("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10),
        ("TB", 1_000_000_000_000), ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1_000),
        ("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10), ("B", 1),
    ]

    /// Bytes in `text`, or nil when it is not a size.
    public static func parse(_ text: String) -> UInt64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
            guard let value = UInt64(trimmed.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)) else { return nil }
            let (bytes, overflow) = value.multipliedReportingOverflow(by: scale)
            return overflow ? nil : bytes
        }
        return UInt64(trimmed)
    }

    /// "1.5GiB"-style text for `bytes`.
    public static func format(_ bytes: Int64) -> String {
        let names = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while abs(value) >= 1024, unit < names.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes)B" : String(format: "%.1f%@", value, names[unit])
    }
}

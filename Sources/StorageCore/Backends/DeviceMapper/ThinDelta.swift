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

/// One line of `thin_ls -o DEV,MAPPED_BYTES,EXCLUSIVE_BYTES`.
struct ThinDeviceEntry: Equatable {
    var id: UInt32
    var mapped: UInt64
    var exclusive: UInt64

    static func parse(_ output: String) -> [ThinDeviceEntry] {
        output.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count == 3, let id = UInt32(f[0]), let mapped = UInt64(f[1]), let exclusive = UInt64(f[2]) else { return nil }
            return ThinDeviceEntry(id: id, mapped: mapped, exclusive: exclusive)
        }
    }
}

import KBSSystem

/// What an image file holds of its own, from its extents and its origin's.
enum ExtentComparison {
    /// Bytes of `mine` stored differently from `base` at the same offsets (written since it was
    /// cloned from `base`), and bytes still shared with it. Without a base: bytes not shared with
    /// any file. Both lists are in logical order.
    static func usage(_ mine: [Reflink.Extent], comparedTo base: [Reflink.Extent]?) -> DeviceUsage {
        let total = mine.reduce(0) { $0 + $1.length }
        guard let theirs = base else {
            let shared = mine.filter(\.shared).reduce(0) { $0 + $1.length }
            return DeviceUsage(exclusiveBytes: Int64(total - shared), sharedBytes: Int64(shared))
        }
        var same: UInt64 = 0
        var j = 0
        for e in mine {
            // Skip base extents that end before this one starts.
            while j < theirs.count, theirs[j].logical + theirs[j].length <= e.logical { j += 1 }
            var k = j
            while k < theirs.count, theirs[k].logical < e.logical + e.length {
                let b = theirs[k]
                if b.physical &- b.logical == e.physical &- e.logical {
                    let start = max(b.logical, e.logical)
                    let end = min(b.logical + b.length, e.logical + e.length)
                    if end > start { same += end - start }
                }
                k += 1
            }
        }
        return DeviceUsage(exclusiveBytes: Int64(total - same), sharedBytes: Int64(same))
    }
}

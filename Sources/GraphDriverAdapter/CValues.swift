import StorageCore

/// Strings and lists handed to C callers, in memory they release with `kbd_free`.
enum CValues {
    /// A NUL-terminated copy of `text`.
    static func string(_ text: String) -> UnsafeMutablePointer<CChar> {
        let bytes = Array(text.utf8)
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
        bytes.withUnsafeBufferPointer { source in
            source.withMemoryRebound(to: CChar.self) { buffer.initialize(from: $0.baseAddress!, count: bytes.count) }
        }
        (buffer + bytes.count).initialize(to: 0)
        return buffer
    }

    /// `items` as one buffer of NUL-terminated strings, and its length in bytes.
    static func list(_ items: [String]) -> (UnsafeMutablePointer<CChar>, Int) {
        var bytes: [UInt8] = []
        for item in items {
            bytes.append(contentsOf: item.utf8.filter { $0 != 0 })
            bytes.append(0)
        }
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: max(bytes.count, 1))
        bytes.withUnsafeBufferPointer { source in
            source.withMemoryRebound(to: CChar.self) { if let base = $0.baseAddress { buffer.initialize(from: base, count: bytes.count) } }
        }
        return (buffer, bytes.count)
    }

    /// A C string argument; NULL and "" are nil.
    static func optional(_ pointer: UnsafePointer<CChar>?) -> String? {
        guard let pointer, pointer.pointee != 0 else { return nil }
        return String(cString: pointer)
    }
}

/// Compact little-endian encoding for stored records: fixed-width integers and length-prefixed strings.
struct RecordWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 128) { bytes.reserveCapacity(capacity) }

    mutating func write<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func write(_ flag: Bool) { write(UInt8(flag ? 1 : 0)) }

    mutating func write(_ string: String) {
        var s = string
        s.withUTF8 { utf8 in
            write(UInt32(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    mutating func write(_ raw: [UInt8]) {
        write(UInt32(raw.count))
        bytes.append(contentsOf: raw)
    }

    mutating func write(_ labels: [String: String]) {
        write(UInt32(labels.count))
        for key in labels.keys.sorted() {
            write(key)
            write(labels[key]!)
        }
    }
}

/// Reads what `RecordWriter` wrote; throws on truncated or malformed bytes.
struct RecordReader {
    private let buffer: UnsafeRawBufferPointer
    private var offset = 0
    private let what: String

    init(_ buffer: UnsafeRawBufferPointer, what: String) {
        self.buffer = buffer
        self.what = what
    }

    private func damaged() -> StorageError {
        StorageError.inconsistent("stored \(what) record is truncated or damaged")
    }

    /// The leading format version: one this release reads, from `supported`.
    mutating func version(_ supported: ClosedRange<UInt8>) throws(StorageError) -> UInt8 {
        let version: UInt8 = try read()
        guard supported.contains(version) else {
            if version > supported.upperBound {
                throw StorageError(.internal, "the \(what) record format \(version) was written by a newer release", remedy: .upgrade)
            }
            throw damaged()
        }
        return version
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type = T.self) throws(StorageError) -> T {
        let size = MemoryLayout<T>.size
        guard offset + size <= buffer.count else { throw damaged() }
        let value = buffer.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += size
        return T(littleEndian: value)
    }

    mutating func readFlag() throws(StorageError) -> Bool { try read(UInt8.self) != 0 }

    mutating func readBytes() throws(StorageError) -> [UInt8] {
        let count = Int(try read(UInt32.self))
        guard offset + count <= buffer.count else { throw damaged() }
        let bytes = Array(buffer[offset..<offset + count])
        offset += count
        return bytes
    }

    mutating func readString() throws(StorageError) -> String {
        let count = Int(try read(UInt32.self))
        guard offset + count <= buffer.count else { throw damaged() }
        let slice = UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + count])
        offset += count
        return String(decoding: slice, as: UTF8.self)
    }

    mutating func readLabels() throws(StorageError) -> [String: String] {
        let count = Int(try read(UInt32.self))
        guard count <= buffer.count else { throw damaged() }
        var labels = [String: String](minimumCapacity: count)
        for _ in 0..<count {
            let key = try readString()
            labels[key] = try readString()
        }
        return labels
    }
}

/// Big-endian 8-byte keys so LMDB's byte order is numeric order.
@inline(__always)
func withKey<R>(_ id: UInt64, _ body: (UnsafeRawBufferPointer) throws(StorageError) -> R) throws(StorageError) -> R {
    try withUnsafeBytes(of: id.bigEndian) { raw in Result { () throws(StorageError) -> R in try body(raw) } }.get()
}

/// Lends a byte array as a raw buffer to a typed-throwing body.
@inline(__always)
func withKey<R>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(StorageError) -> R) throws(StorageError) -> R {
    try bytes.withUnsafeBytes { raw in Result { () throws(StorageError) -> R in try body(raw) } }.get()
}

func decodeBigEndianID(_ raw: UnsafeRawBufferPointer, at offset: Int = 0) -> UInt64 {
    UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
}

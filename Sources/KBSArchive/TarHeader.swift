/// The header blocks of one tar member, encoded the way Go's archive/tar encodes them: a plain
/// USTAR block when USTAR can hold the member exactly, else a PAX extended header carrying only
/// the records USTAR cannot hold, then the USTAR block. Numeric fields are NUL-terminated octal.
///
/// This is what lets a Go program re-encode our tar (buildah's `podman commit` reads each header
/// with archive/tar and writes it back) and get a stream of exactly the same length: Go reads
/// such a header as USTAR or PAX, decides again by the same rules and writes the same records.
/// (libarchive ends some numeric fields with a space, which Go reads as "format unknown" and
/// then re-encodes as USTAR, dropping the nanoseconds and changing the length.)
struct TarHeader {
    static let blockSize = 512

    private static let nameSize = 100, prefixSize = 155, linkSize = 100

    /// The bytes to write before the member's data: a multiple of 512.
    static func encode(_ entry: ArchiveEntry) throws(ArchiveError) -> [UInt8] {
        var name = entry.path
        if entry.kind == .directory && !name.hasSuffix("/") { name += "/" }
        let nameBytes = Array(name.utf8)
        let link = Array((entry.linkTarget ?? "").utf8)
        let size = entry.kind == .regular ? entry.size : 0
        let (seconds, nanoseconds) = split(entry.modified)

        var records: [(String, [UInt8])] = []
        var ustarFits = true
        var preferPAX = false
        var split: (prefix: ArraySlice<UInt8>, name: ArraySlice<UInt8>)?
        if !isASCII(nameBytes) || nameBytes.count > nameSize {
            records.append(("path", nameBytes))
            split = splitUSTAR(nameBytes)
            if split == nil { ustarFits = false }
        }
        if !isASCII(link) || link.count > linkSize {
            records.append(("linkpath", link))
            ustarFits = false
        }
        for (key, value, width) in [("uid", Int64(entry.uid), 8), ("gid", Int64(entry.gid), 8), ("size", size, 12)]
        where !fitsOctal(value, width) {
            records.append((key, Array(String(value).utf8)))
            ustarFits = false
        }
        for value in [Int64(entry.deviceMajor), Int64(entry.deviceMinor)] where !fitsOctal(value, 8) {
            throw ArchiveError(operation: "write the header of \(entry.path)", message: "device number \(value) does not fit a tar header")
        }
        if !fitsOctal(seconds, 12) || nanoseconds != 0 {
            records.append(("mtime", Array(paxTime(seconds, nanoseconds).utf8)))
            preferPAX = true
            if !fitsOctal(seconds, 12) { ustarFits = false }
        }
        for attribute in entry.attributes {
            records.append(("SCHILY.xattr." + attribute.name, attribute.value))
        }
        if entry.kind == .socket {
            throw ArchiveError(operation: "write the header of \(entry.path)", message: "a tar cannot hold a socket")
        }

        let usePAX = !ustarFits || preferPAX || !entry.attributes.isEmpty
        var block = [UInt8](repeating: 0, count: blockSize)
        if usePAX {
            put(toASCII(nameBytes).prefix(nameSize), at: 0, in: &block)
        } else if let split {
            put(split.name, at: 0, in: &block)
            put(split.prefix, at: 345, in: &block)
        } else {
            put(nameBytes[...], at: 0, in: &block)
        }
        octal(Int64(entry.permissions & 0o7777), at: 100, width: 8, in: &block)
        octal(Int64(entry.uid), at: 108, width: 8, in: &block)
        octal(Int64(entry.gid), at: 116, width: 8, in: &block)
        octal(size, at: 124, width: 12, in: &block)
        octal(seconds, at: 136, width: 12, in: &block)
        block[156] = typeFlag(entry.kind)
        put(toASCII(link).prefix(linkSize), at: 157, in: &block)
        put(Array("ustar\0".utf8)[...], at: 257, in: &block)
        put(Array("00".utf8)[...], at: 263, in: &block)
        octal(Int64(entry.deviceMajor), at: 329, width: 8, in: &block)
        octal(Int64(entry.deviceMinor), at: 337, width: 8, in: &block)
        checksum(&block)
        guard usePAX else { return block }

        var data: [UInt8] = []
        for (key, value) in records.sorted(by: { $0.0 < $1.0 }) {
            for byte in key.utf8 where byte == 0 || byte == UInt8(ascii: "=") {
                throw ArchiveError(operation: "write the header of \(entry.path)", message: "attribute name \(key) cannot be stored in a tar")
            }
            data += record(key, value)
        }
        var extended = [UInt8](repeating: 0, count: blockSize)
        put(toASCII(Array(paxName(nameBytes).utf8)).prefix(nameSize), at: 0, in: &extended)
        octal(0o644, at: 100, width: 8, in: &extended)
        for offset in [108, 116, 329, 337] { octal(0, at: offset, width: 8, in: &extended) }
        octal(Int64(data.count), at: 124, width: 12, in: &extended)
        octal(0, at: 136, width: 12, in: &extended)
        extended[156] = UInt8(ascii: "x")
        put(Array("ustar\0".utf8)[...], at: 257, in: &extended)
        put(Array("00".utf8)[...], at: 263, in: &extended)
        checksum(&extended)
        return extended + data + padding(data.count) + block
    }

    /// Zero bytes that fill `count` bytes of data up to the next block.
    static func padding(_ count: Int) -> [UInt8] {
        [UInt8](repeating: 0, count: (blockSize - count % blockSize) % blockSize)
    }

    /// One PAX record, "LENGTH KEY=VALUE\n", LENGTH counting its own digits.
    private static func record(_ key: String, _ value: [UInt8]) -> [UInt8] {
        let body = key.utf8.count + value.count + 3
        var length = body + String(body).count
        if String(length).count != String(body).count { length = body + String(length).count }
        return Array("\(length) \(key)=".utf8) + value + [UInt8(ascii: "\n")]
    }

    /// The name Go gives an extended header: the member's directory, PaxHeaders.0, its name.
    private static func paxName(_ name: [UInt8]) -> String {
        let path = String(decoding: name, as: UTF8.self)
        var trimmed = Substring(path)
        while trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "PaxHeaders.0/\(trimmed)" }
        return "\(trimmed[..<slash])/PaxHeaders.0/\(trimmed[trimmed.index(after: slash)...])"
    }

    /// Seconds and non-negative nanoseconds of a time in nanoseconds since the epoch.
    private static func split(_ time: Int64) -> (Int64, Int64) {
        var seconds = time / 1_000_000_000, nanoseconds = time % 1_000_000_000
        if nanoseconds < 0 {
            seconds -= 1
            nanoseconds += 1_000_000_000
        }
        return (seconds, nanoseconds)
    }

    /// A PAX time: seconds, then the fraction without trailing zeros.
    private static func paxTime(_ seconds: Int64, _ nanoseconds: Int64) -> String {
        guard nanoseconds != 0 else { return String(seconds) }
        var sign = "", whole = seconds, fraction = nanoseconds
        if seconds < 0 {
            sign = "-"
            whole = -(seconds + 1)
            fraction = 1_000_000_000 - nanoseconds
        }
        var digits = String(fraction)
        digits = String(repeating: "0", count: 9 - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return "\(sign)\(whole).\(digits)"
    }

    /// USTAR's split of a long name at a slash into a prefix of up to 155 and a name of up to 100.
    private static func splitUSTAR(_ name: [UInt8]) -> (prefix: ArraySlice<UInt8>, name: ArraySlice<UInt8>)? {
        guard name.count > nameSize, isASCII(name) else { return nil }
        var length = name.count
        if length > prefixSize + 1 {
            length = prefixSize + 1
        } else if name[length - 1] == UInt8(ascii: "/") {
            length -= 1
        }
        guard let slash = name[..<length].lastIndex(of: UInt8(ascii: "/")) else { return nil }
        let suffixLength = name.count - slash - 1
        guard slash > 0, suffixLength > 0, suffixLength <= nameSize, slash <= prefixSize else { return nil }
        return (name[..<slash], name[(slash + 1)...])
    }

    private static func typeFlag(_ kind: ArchiveEntry.Kind) -> UInt8 {
        switch kind {
        case .regular, .socket: UInt8(ascii: "0")
        case .hardLink: UInt8(ascii: "1")
        case .symbolicLink: UInt8(ascii: "2")
        case .characterDevice: UInt8(ascii: "3")
        case .blockDevice: UInt8(ascii: "4")
        case .directory: UInt8(ascii: "5")
        case .fifo: UInt8(ascii: "6")
        }
    }

    private static func isASCII(_ bytes: [UInt8]) -> Bool { bytes.allSatisfy { $0 < 0x80 } }

    private static func toASCII(_ bytes: [UInt8]) -> [UInt8] { bytes.filter { $0 < 0x80 } }

    private static func fitsOctal(_ value: Int64, _ width: Int) -> Bool {
        value >= 0 && (width - 1 >= 21 || value < Int64(1) << (3 * (width - 1)))
    }

    private static func put(_ bytes: ArraySlice<UInt8>, at offset: Int, in block: inout [UInt8]) {
        for (i, byte) in bytes.enumerated() { block[offset + i] = byte }
    }

    /// `width - 1` zero-padded octal digits and a NUL; a value that does not fit (carried by a
    /// PAX record) is written as zero.
    private static func octal(_ value: Int64, at offset: Int, width: Int, in block: inout [UInt8]) {
        let digits = String(fitsOctal(value, width) ? value : 0, radix: 8)
        let padded = String(repeating: "0", count: width - 1 - digits.count) + digits
        put(Array(padded.utf8)[...], at: offset, in: &block)
        block[offset + width - 1] = 0
    }

    /// The header checksum: the sum of its bytes with the checksum field as spaces, six octal
    /// digits, NUL, space.
    private static func checksum(_ block: inout [UInt8]) {
        for i in 148..<156 { block[i] = UInt8(ascii: " ") }
        let sum = block.reduce(0) { $0 + Int64($1) }
        octal(sum, at: 148, width: 7, in: &block)
        block[155] = UInt8(ascii: " ")
    }
}

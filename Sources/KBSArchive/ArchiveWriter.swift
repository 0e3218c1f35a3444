#if canImport(Glibc)
import Glibc
#endif

/// Writes a tar stream to a file descriptor (Diff), headers encoded by `TarHeader` as Go's
/// archive/tar would encode them (so that a Go program re-encoding the stream, as buildah does
/// for `podman commit`, writes exactly as many bytes), ended by two zero blocks and nothing more.
public final class ArchiveWriter {
    private let fd: Int32
    private var buffer: [UInt8] = []
    /// Data bytes the current member still owes.
    private var owed: Int64 = 0
    /// Data bytes written for the current member, for its padding.
    private var written: Int64 = 0
    private var path = ""
    private static let flushSize = 1 << 20

    /// Writes to `fd`, which stays the caller's to close (after `finish`).
    public init(fd: Int32) throws(ArchiveError) {
        self.fd = fd
        buffer.reserveCapacity(Self.flushSize + TarHeader.blockSize)
    }

    /// Writes `entry`'s header; a regular member's `entry.size` bytes follow with `writeData`.
    public func write(_ entry: ArchiveEntry) throws(ArchiveError) {
        try endMember()
        buffer += try TarHeader.encode(entry)
        path = entry.path
        owed = entry.kind == .regular ? entry.size : 0
        written = 0
        try flushIfFull()
    }

    public func writeData(_ bytes: UnsafeRawBufferPointer) throws(ArchiveError) {
        guard Int64(bytes.count) <= owed else {
            throw ArchiveError(operation: "write the data of \(path)", message: "more data than the header's size")
        }
        owed -= Int64(bytes.count)
        written += Int64(bytes.count)
        if bytes.count >= Self.flushSize {
            try flush()
            try writeAll(bytes)
        } else {
            buffer.append(contentsOf: bytes)
            try flushIfFull()
        }
    }

    public func writeData(_ bytes: [UInt8]) throws(ArchiveError) {
        let result = bytes.withUnsafeBytes { (raw) -> Result<Void, ArchiveError> in
            Result { () throws(ArchiveError) in try writeData(raw) }
        }
        try result.get()
    }

    /// Writes the end of the stream.
    public func finish() throws(ArchiveError) {
        try endMember()
        buffer += [UInt8](repeating: 0, count: 2 * TarHeader.blockSize)
        try flush()
    }

    /// Pads the current member's data to a block; a member short of its size is an error.
    private func endMember() throws(ArchiveError) {
        guard owed == 0 else {
            throw ArchiveError(operation: "write the data of \(path)", message: "\(owed) bytes short of the header's size")
        }
        buffer += TarHeader.padding(Int(written % Int64(TarHeader.blockSize)))
        written = 0
    }

    private func flushIfFull() throws(ArchiveError) {
        if buffer.count >= Self.flushSize { try flush() }
    }

    private func flush() throws(ArchiveError) {
        let result = buffer.withUnsafeBytes { (raw) -> Result<Void, ArchiveError> in
            Result { () throws(ArchiveError) in try writeAll(raw) }
        }
        try result.get()
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws(ArchiveError) {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                throw ArchiveError(operation: "write the tar stream", message: String(cString: strerror(code)), errno: code)
            }
            done += n
        }
    }
}

import CArchive
import Glibc

/// Reads a tar stream (ustar, pax or GNU; not compressed) from a file descriptor, one member at
/// a time. Not for use from two threads at once.
public final class ArchiveReader {
    private let archive: OpaquePointer
    private var entry: OpaquePointer?
    /// Names or link targets longer than this are refused before anything uses them.
    public static let maxPathBytes = Int(PATH_MAX)

    /// Reads from `fd`, which stays the caller's to close (after this reader is gone).
    public init(fd: Int32) throws(ArchiveError) {
        guard let archive = archive_read_new() else { throw ArchiveError(operation: "archive_read_new", message: "out of memory") }
        self.archive = archive
        try check(archive_read_support_format_tar(archive), archive, "archive_read_support_format_tar")
        try check(archive_read_open_fd(archive, fd, 64 * 1024), archive, "open the tar stream")
    }

    deinit { archive_read_free(archive) }

    /// The next member's header, nil at the end of the stream. Its data, if any, is read with
    /// `readData` before the next call (or skipped by it).
    public func next() throws(ArchiveError) -> ArchiveEntry? {
        var header: OpaquePointer?
        let rc = archive_read_next_header(archive, &header)
        if rc == ARCHIVE_EOF { return nil }
        try check(rc, archive, "read a tar header")
        guard let header else { throw ArchiveError(operation: "read a tar header", message: "no header") }
        entry = header
        return try Self.decode(header)
    }

    /// Hands the current member's data to `body` as (offset, bytes) blocks, in order; the gaps
    /// between blocks are holes (sparse members). A failure to read the stream is `failed`'s.
    public func readData<E: Error>(
        _ body: (Int64, UnsafeRawBufferPointer) throws(E) -> Void, failed: (ArchiveError) -> E
    ) throws(E) {
        while true {
            var buffer: UnsafeRawPointer?
            var size = 0
            var offset: la_int64_t = 0
            let rc = archive_read_data_block(archive, &buffer, &size, &offset)
            if rc == ARCHIVE_EOF { return }
            do throws(ArchiveError) {
                try check(rc, archive, "read member data")
            } catch {
                throw failed(error)
            }
            if size > 0, let buffer { try body(Int64(offset), UnsafeRawBufferPointer(start: buffer, count: size)) }
        }
    }

    private static func decode(_ e: OpaquePointer) throws(ArchiveError) -> ArchiveEntry {
        guard let rawPath = archive_entry_pathname(e) else {
            throw ArchiveError(operation: "read a tar header", message: "a member has no name")
        }
        let path = try Self.string(rawPath, "member name")
        var linkTarget: String?
        let kind: ArchiveEntry.Kind
        if let hard = archive_entry_hardlink(e) {
            kind = .hardLink
            linkTarget = try Self.string(hard, "hard link target of \(path)")
        } else {
            switch UInt32(archive_entry_filetype(e)) {
            case KBS_AE_IFREG: kind = .regular
            case KBS_AE_IFDIR: kind = .directory
            case KBS_AE_IFLNK:
                kind = .symbolicLink
                linkTarget = try archive_entry_symlink(e).map { (raw) throws(ArchiveError) in try Self.string(raw, "symbolic link target of \(path)") } ?? ""
            case KBS_AE_IFCHR: kind = .characterDevice
            case KBS_AE_IFBLK: kind = .blockDevice
            case KBS_AE_IFIFO: kind = .fifo
            case KBS_AE_IFSOCK: kind = .socket
            case let other:
                throw ArchiveError(operation: "read a tar header", message: "member \(path) has an unknown type \(String(other, radix: 8))")
            }
        }
        let modified = Int64(archive_entry_mtime(e)) * 1_000_000_000 + Int64(archive_entry_mtime_nsec(e))
        let accessed = archive_entry_atime_is_set(e) != 0
            ? Int64(archive_entry_atime(e)) * 1_000_000_000 + Int64(archive_entry_atime_nsec(e)) : modified
        var attributes: [ArchiveEntry.Attribute] = []
        if archive_entry_xattr_reset(e) > 0 {
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            while archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK {
                guard let name else { continue }
                let bytes = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
                attributes.append(.init(name: String(cString: name), value: bytes))
            }
        }
        guard archive_entry_uid(e) >= 0, archive_entry_uid(e) <= Int64(UInt32.max),
              archive_entry_gid(e) >= 0, archive_entry_gid(e) <= Int64(UInt32.max) else {
            throw ArchiveError(operation: "read a tar header", message: "member \(path) has an owner out of range")
        }
        return ArchiveEntry(
            path: path, kind: kind, permissions: UInt32(archive_entry_perm(e)) & 0o7777,
            uid: UInt32(archive_entry_uid(e)), gid: UInt32(archive_entry_gid(e)),
            size: archive_entry_size_is_set(e) != 0 ? Int64(archive_entry_size(e)) : 0,
            modified: modified, accessed: accessed, linkTarget: linkTarget,
            deviceMajor: UInt32(truncatingIfNeeded: archive_entry_rdevmajor(e)),
            deviceMinor: UInt32(truncatingIfNeeded: archive_entry_rdevminor(e)),
            attributes: attributes)
    }

    private static func string(_ raw: UnsafePointer<CChar>, _ what: String) throws(ArchiveError) -> String {
        let length = strlen(raw)
        guard length <= maxPathBytes else {
            throw ArchiveError(operation: "read a tar header", message: "a \(what) is \(length) bytes long; the limit is \(maxPathBytes)")
        }
        return String(cString: raw)
    }
}

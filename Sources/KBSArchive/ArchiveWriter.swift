import CArchive

/// Writes a pax tar stream to a file descriptor (Diff): every member with a pax header, so that
/// times keep their nanoseconds and the tree applied from it is the one exported.
public final class ArchiveWriter {
    private let archive: OpaquePointer
    private var closed = false

    /// Writes to `fd`, which stays the caller's to close (after `finish`).
    public init(fd: Int32) throws(ArchiveError) {
        guard let archive = archive_write_new() else { throw ArchiveError(operation: "archive_write_new", message: "out of memory") }
        self.archive = archive
        try check(archive_write_set_format_pax(archive), archive, "archive_write_set_format_pax")
        try check(archive_write_set_bytes_in_last_block(archive, 1), archive, "archive_write_set_bytes_in_last_block")
        try check(archive_write_open_fd(archive, fd), archive, "open the tar stream for writing")
    }

    deinit {
        if !closed { archive_write_close(archive) }
        archive_write_free(archive)
    }

    /// Writes `entry`'s header; a regular member's `entry.size` bytes follow with `writeData`.
    public func write(_ entry: ArchiveEntry) throws(ArchiveError) {
        guard let e = archive_entry_new() else { throw ArchiveError(operation: "archive_entry_new", message: "out of memory") }
        defer { archive_entry_free(e) }
        archive_entry_set_pathname(e, entry.path)
        switch entry.kind {
        case .regular: archive_entry_set_filetype(e, KBS_AE_IFREG)
        case .directory: archive_entry_set_filetype(e, KBS_AE_IFDIR)
        case .symbolicLink:
            archive_entry_set_filetype(e, KBS_AE_IFLNK)
            archive_entry_set_symlink(e, entry.linkTarget ?? "")
        case .hardLink:
            archive_entry_set_filetype(e, KBS_AE_IFREG)
            archive_entry_set_hardlink(e, entry.linkTarget ?? "")
        case .characterDevice: archive_entry_set_filetype(e, KBS_AE_IFCHR)
        case .blockDevice: archive_entry_set_filetype(e, KBS_AE_IFBLK)
        case .fifo: archive_entry_set_filetype(e, KBS_AE_IFIFO)
        case .socket: archive_entry_set_filetype(e, KBS_AE_IFSOCK)
        }
        archive_entry_set_perm(e, mode_t(entry.permissions))
        archive_entry_set_uid(e, la_int64_t(entry.uid))
        archive_entry_set_gid(e, la_int64_t(entry.gid))
        archive_entry_set_size(e, entry.kind == .regular ? la_int64_t(entry.size) : 0)
        archive_entry_set_mtime(e, time_t(entry.modified / 1_000_000_000), Int(entry.modified % 1_000_000_000))
        archive_entry_set_rdevmajor(e, dev_t(entry.deviceMajor))
        archive_entry_set_rdevminor(e, dev_t(entry.deviceMinor))
        for attribute in entry.attributes {
            attribute.value.withUnsafeBytes { archive_entry_xattr_add_entry(e, attribute.name, $0.baseAddress, $0.count) }
        }
        try check(archive_write_header(archive, e), archive, "write the header of \(entry.path)")
    }

    public func writeData(_ bytes: UnsafeRawBufferPointer) throws(ArchiveError) {
        var done = 0
        while done < bytes.count {
            let n = archive_write_data(archive, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 { try check(Int32(n), archive, "write member data") }
            if n == 0 { throw ArchiveError(operation: "write member data", message: "no progress") }
            done += n
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
        closed = true
        try check(archive_write_close(archive), archive, "finish the tar stream")
    }
}

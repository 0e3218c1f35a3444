import KBSSystem

/// The filesystem on snapshot devices: the container rootfs, at the device's root.
public enum FilesystemType: String, Sendable, CaseIterable, Codable {
    case ext4
    case xfs

    /// Formats the device at `path` (which reads as zeros) and empties its root, so that a new
    /// snapshot starts as an empty directory tree like any other snapshotter's; `scratch` is a
    /// directory to mount it on meanwhile.
    func makeEmptyRoot(_ path: String, scratch: String) throws(StorageError) {
        try format(path)
        guard self == .ext4 else { return }
        // mke2fs always makes lost+found; a rootfs does not need it and e2fsck recreates it when it must.
        try whileMounted(path, at: scratch) { () throws(StorageError) in
            try system("cannot empty the new filesystem's root") { () throws(SystemCallError) in _ = try Files.removeDirectory("\(scratch)/lost+found") }
        }
    }

    /// Mounts `path` writable on the directory `scratch` for the duration of `body`.
    private func whileMounted(_ path: String, at scratch: String, _ body: () throws(StorageError) -> Void) throws(StorageError) {
        try system("cannot mount \(path) at \(scratch)") { () throws(SystemCallError) in
            try Files.makeDirectory(scratch)
            try Mounts.mount(path, at: scratch, type: rawValue, readOnly: false, options: dataOptions(readOnly: false))
        }
        let outcome = Result { () throws(StorageError) in try body() }
        try system("cannot unmount \(scratch)") { () throws(SystemCallError) in
            try Mounts.unmount(scratch)
            try Files.removeDirectory(scratch)
        }
        try outcome.get()
    }

    /// Formats the block device or image at `path`, assuming it reads as zeros (a fresh thin device).
    func format(_ path: String) throws(StorageError) {
        switch self {
        case .ext4:
            // Prezeroed storage: no inode-table or journal zeroing now, no lazy init later in every clone.
            try tool("cannot make the ext4 filesystem", "mkfs.ext4", [
                "-q", "-F", "-b", "4096", "-m", "0", "-L", "kata-rootfs", "-E", "assume_storage_prezeroed=1,nodiscard", path,
            ])
        case .xfs:
            try tool("cannot make the xfs filesystem", "mkfs.xfs", ["-q", "-f", "-K", "-b", "size=4096", "-s", "size=4096", "-L", "kata-rootfs", path])
        }
    }

    /// Grows the (unmounted) filesystem on `path`, just cloned from a cleanly unmounted one, to
    /// fill its device; `scratch` is a directory to mount it on when the filesystem only grows
    /// while mounted (xfs).
    func grow(_ path: String, scratch: String) throws(StorageError) {
        switch self {
        case .ext4:
            // -f: the filesystem was cleanly unmounted by the layer that wrote it; skip the fsck demand.
            try tool("cannot grow the filesystem on \(path)", "resize2fs", ["-f", path])
        case .xfs:
            try whileMounted(path, at: scratch) { () throws(StorageError) in try growMounted(path, at: scratch) }
        }
    }

    /// Grows the unmounted filesystem on `path`, which anyone may have written and which may not
    /// have been unmounted cleanly (a guest that was killed): ext4 is checked (its journal
    /// replayed) and resized offline; xfs, which only grows mounted, is mounted on `scratch`
    /// (the mount replays its log) and grown there.
    func growChecked(_ path: String, scratch: String) throws(StorageError) {
        switch self {
        case .ext4:
            do throws(StorageError) {
                try tool("cannot check the filesystem on \(path) before growing it", "e2fsck", ["-f", "-p", path])
            } catch where Self.correctedOnly(error) {
                // 1: errors were found and corrected; the filesystem is clean now.
            }
            try tool("cannot grow the filesystem on \(path)", "resize2fs", [path])
        case .xfs:
            try whileMounted(path, at: scratch) { () throws(StorageError) in try growMounted(path, at: scratch) }
        }
    }

    /// e2fsck's exit status 1: it found errors and corrected them all.
    private static func correctedOnly(_ error: StorageError) -> Bool {
        guard case .failed(status: 1, _)? = (error.cause as? SubprocessError)?.reason else { return false }
        return true
    }

    /// Grows the filesystem on `path`, mounted at `directory`, to fill its device (online resize;
    /// ext4's needs CAP_SYS_RESOURCE).
    func growMounted(_ path: String, at directory: String) throws(StorageError) {
        switch self {
        case .ext4: try tool("cannot grow the filesystem mounted at \(directory) (online ext4 growth needs CAP_SYS_RESOURCE; unmounted, it grows offline)", "resize2fs", [path])
        case .xfs: try tool("cannot grow the filesystem at \(directory)", "xfs_growfs", [directory])
        }
    }

    /// Mount options for a snapshot, as containerd and Kata pass them on: read-only views; clones
    /// of one XFS share a UUID; writable ones discard what they free (down through the loop
    /// device or the thin device, the space goes back to the pool).
    func mountOptions(readOnly: Bool) -> [String] {
        (readOnly ? ["ro"] : []) + dataOptions(readOnly: readOnly)
    }

    /// The filesystem's own options (mount(2)'s data), without the read-only flag.
    func dataOptions(readOnly: Bool) -> [String] { (self == .xfs ? ["nouuid"] : []) + (readOnly ? [] : ["discard"]) }

    /// Used inodes recorded in the superblock, read from the device's first bytes.
    /// Exact for unmounted filesystems; lags while mounted.
    func usedInodes(superblock bytes: [UInt8]) -> Int64? {
        switch self {
        case .ext4:
            // struct ext4_super_block at 1024: s_inodes_count @0, s_free_inodes_count @16, magic @56 (little-endian).
            guard bytes.count >= 1024 + 64 else { return nil }
            let magic = UInt16(bytes[1024 + 56]) | UInt16(bytes[1024 + 57]) << 8
            guard magic == 0xEF53 else { return nil }
            return Int64(le32(bytes, 1024)) - Int64(le32(bytes, 1024 + 16))
        case .xfs:
            // struct xfs_sb at 0: magic "XFSB", sb_icount @128, sb_ifree @136 (big-endian).
            guard bytes.count >= 144, bytes[0] == 0x58, bytes[1] == 0x46, bytes[2] == 0x53, bytes[3] == 0x42 else { return nil }
            return Int64(bitPattern: be64(bytes, 128) &- be64(bytes, 136))
        }
    }

    /// Bytes to read from a device for `usedInodes`.
    static let superblockBytes = 4096

    private func le32(_ b: [UInt8], _ o: Int) -> UInt32 {
        UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
    }

    private func be64(_ b: [UInt8], _ o: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 << 8 | UInt64(b[o + $1]) }
    }
}

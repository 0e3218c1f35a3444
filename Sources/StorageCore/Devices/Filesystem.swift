import CLinux
import Glibc

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
            try systemCall("rmdir(lost+found)", "cannot empty the new filesystem's root") { rmdir("\(scratch)/lost+found") }
        }
    }

    /// Mounts `path` writable on the directory `scratch` for the duration of `body`.
    private func whileMounted(_ path: String, at scratch: String, _ body: () throws(StorageError) -> Void) throws(StorageError) {
        try ReflinkFilePool.makeDirectory(scratch)
        try Mounter.mount(path, at: scratch, type: rawValue, readOnly: false, options: mountOptions(readOnly: false))
        let outcome = Result { () throws(StorageError) in try body() }
        try Mounter.unmount(scratch)
        rmdir(scratch)
        try outcome.get()
    }

    /// Formats the block device or image at `path`, assuming it reads as zeros (fresh thin device).
    func format(_ path: String) throws(StorageError) {
        switch self {
        case .ext4:
            // Prezeroed storage: no inode-table or journal zeroing now, no lazy init later in every clone.
            try ExternalTool.run("mkfs.ext4", [
                "-q", "-F", "-b", "4096", "-m", "0", "-L", "kata-rootfs",
                "-E", "assume_storage_prezeroed=1,nodiscard", path,
            ])
        case .xfs:
            try ExternalTool.run("mkfs.xfs", ["-q", "-f", "-K", "-b", "size=4096", "-s", "size=4096", "-L", "kata-rootfs", path])
        }
    }

    /// Grows the (unmounted) filesystem on `path` to fill its device; `scratch` is a directory to
    /// mount it on when the filesystem only grows while mounted (xfs).
    func grow(_ path: String, scratch: String) throws(StorageError) {
        switch self {
        case .ext4:
            // -f: the filesystem was cleanly unmounted by the layer that wrote it; skip the fsck demand.
            try ExternalTool.run("resize2fs", ["-f", path])
        case .xfs:
            try whileMounted(path, at: scratch) { () throws(StorageError) in try ExternalTool.run("xfs_growfs", [scratch]) }
        }
    }

    /// Mount options for a snapshot: read-only views; clones of one XFS share a UUID.
    func mountOptions(readOnly: Bool) -> [String] {
        var options: [String] = []
        if readOnly { options.append("ro") }
        if self == .xfs { options.append("nouuid") }
        return options
    }

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

/// mount(2) and umount2(2), and reading the mount table.
enum Mounter {
    static func mount(_ source: String, at target: String, type: String, readOnly: Bool, options: [String]) throws(StorageError) {
        let data = options.filter { $0 != "ro" }.joined(separator: ",")
        let flags = UInt(readOnly ? MS_RDONLY : 0)
        try systemCall("mount(\(source), \(target), \(type))", "cannot mount \(source) at \(target)") {
            Glibc.mount(source, target, type, flags, data.isEmpty ? nil : data)
        }
    }

    static func unmount(_ target: String) throws(StorageError) {
        do throws(SystemCallError) {
            try syscall("umount(\(target))") { umount2(target, 0) }
        } catch where error.errno == EINVAL || error.errno == ENOENT {
            return  // not mounted
        } catch where error.errno == EBUSY {
            throw StorageError(.busy, "\(target) is in use; stop the processes using it and retry", cause: error)
        } catch {
            throw error.storageError("cannot unmount \(target)")
        }
    }

    /// Whether `path` is a mount point, from /proc/self/mountinfo.
    static func isMountPoint(_ path: String) -> Bool {
        guard let table = readSmallFile("/proc/self/mountinfo") else { return false }
        for line in table.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 5)
            if fields.count > 4, unescapeMountPath(fields[4]) == path { return true }
        }
        return false
    }

    /// Mount points of the filesystem on the block device at `devicePath` (matched by device number).
    static func mountPoints(ofDevice devicePath: String) -> [String] {
        var st = stat()
        guard stat(devicePath, &st) == 0, (st.st_mode & S_IFMT) == S_IFBLK,
              let table = readSmallFile("/proc/self/mountinfo") else { return [] }
        let number = "\(kbs_major(st.st_rdev)):\(kbs_minor(st.st_rdev))"
        var result: [String] = []
        for line in table.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 5)
            if fields.count > 4, fields[2] == number { result.append(unescapeMountPath(fields[4])) }
        }
        return result
    }

    private static func unescapeMountPath(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var out = ""
        var i = field.startIndex
        while i < field.endIndex {
            if field[i] == "\\", let end = field.index(i, offsetBy: 4, limitedBy: field.endIndex),
               let code = UInt8(field[field.index(after: i)..<end], radix: 8) {
                out.append(Character(UnicodeScalar(code)))
                i = end
            } else {
                out.append(field[i])
                i = field.index(after: i)
            }
        }
        return out
    }
}

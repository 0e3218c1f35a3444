import Glibc

/// mount(2), umount2(2) and the mount table of this process's mount namespace.
public enum Mounts {
    /// Mounts `source` at `target` with `flags` (and read-only with `readOnly`); `options` are the
    /// filesystem's own (data) options.
    public static func mount(
        _ source: String, at target: String, type: String, readOnly: Bool, flags extra: MountFlags = [], options: [String]
    ) throws(SystemCallError) {
        let data = options.joined(separator: ",")
        let flags = UInt(extra.union(readOnly ? .readOnly : []).rawValue)
        try syscall("mount(\(source), \(target), \(type))") {
            Glibc.mount(source, target, type, flags, data.isEmpty ? nil : data)
        }
    }

    /// Changes the flags of the mount at `target` (MS_REMOUNT): going read-only flushes the
    /// filesystem and fails with EBUSY while a file on it is open for writing.
    public static func remount(_ target: String, readOnly: Bool, flags extra: MountFlags = [], options: [String]) throws(SystemCallError) {
        let data = options.joined(separator: ",")
        let flags = UInt(MS_REMOUNT) | UInt(extra.union(readOnly ? .readOnly : []).rawValue)
        try syscall("mount(MS_REMOUNT, \(target))") {
            Glibc.mount(nil, target, nil, flags, data.isEmpty ? nil : data)
        }
    }

    /// Unmounts `target`; returns false when nothing was mounted there.
    ///
    /// A mount can be busy for a moment without anyone using it: a process forked by another
    /// thread holds copies of this process's open files until it execs, among them one that was
    /// just closed here on that filesystem. EBUSY is retried for about a second before it is
    /// reported (seen under TCG, where a fork-to-exec window is long).
    @discardableResult
    public static func unmount(_ target: String) throws(SystemCallError) -> Bool {
        var attempts = 0
        while true {
            do throws(SystemCallError) {
                try syscall("umount(\(target))") { umount2(target, 0) }
                return true
            } catch where error.errno == .invalid || error.errno == .noSuchFile {
                return false
            } catch where error.errno == .busy && attempts < busyRetries {
                attempts += 1
                usleep(20_000)
            }
        }
    }

    /// How many times a busy unmount is retried, 20 ms apart.
    static let busyRetries = 50

    /// One line of /proc/self/mountinfo.
    public struct Entry: Sendable, Equatable {
        /// "major:minor" of the mounted filesystem's device.
        public var device: String
        public var mountPoint: String
        public var type: String
        public var source: String
        /// The directory of the filesystem mounted here: "/" unless a bind mount of a subdirectory.
        public var root: String

        public init(device: String, mountPoint: String, type: String, source: String, root: String = "/") {
            self.device = device
            self.mountPoint = mountPoint
            self.type = type
            self.source = source
            self.root = root
        }
    }

    /// The mount table of this process's namespace.
    public static func table() throws(SystemCallError) -> [Entry] {
        parse(mountinfo: try Files.read("/proc/self/mountinfo"))
    }

    /// Parses mountinfo lines: `id parent major:minor root mountpoint options [optional...] - type source superoptions`.
    public static func parse(mountinfo: String) -> [Entry] {
        mountinfo.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 10, let dash = fields.firstIndex(of: "-"), dash >= 6, dash + 2 < fields.count else { return nil }
            return Entry(device: String(fields[2]), mountPoint: unescape(fields[4]), type: String(fields[dash + 1]),
                         source: unescape(fields[dash + 2]), root: unescape(fields[3]))
        }
    }

    /// Whether something is mounted at `path`.
    public static func isMountPoint(_ path: String) throws(SystemCallError) -> Bool {
        try table().contains { $0.mountPoint == path }
    }

    /// Mount points of the filesystem on the block device at `devicePath`, matched by device number.
    public static func mountPoints(ofDevice devicePath: String) throws(SystemCallError) -> [String] {
        guard let number = try Files.status(devicePath)?.deviceNumber else { return [] }
        return try table().filter { $0.device == number }.map(\.mountPoint)
    }

    /// Undoes mountinfo's octal escapes (`\040` for a space).
    static func unescape(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var bytes: [UInt8] = []
        let utf8 = Array(field.utf8)
        var i = 0
        while i < utf8.count {
            if utf8[i] == UInt8(ascii: "\\"), i + 3 < utf8.count,
               let code = UInt8(String(decoding: utf8[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                bytes.append(code)
                i += 4
            } else {
                bytes.append(utf8[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

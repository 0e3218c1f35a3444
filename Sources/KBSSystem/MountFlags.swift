import Glibc

/// mount(2)'s flags, and mount(8)'s option words split into those flags and the filesystem's own
/// (data) options: what containers/storage hands a driver's Get (`ro,nosuid,nodev,noexec`).
public struct MountFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let readOnly = MountFlags(rawValue: UInt32(MS_RDONLY))
    public static let noSetuid = MountFlags(rawValue: UInt32(MS_NOSUID))
    public static let noDevices = MountFlags(rawValue: UInt32(MS_NODEV))
    public static let noExecute = MountFlags(rawValue: UInt32(MS_NOEXEC))
    public static let synchronous = MountFlags(rawValue: UInt32(MS_SYNCHRONOUS))
    public static let synchronousDirectories = MountFlags(rawValue: UInt32(MS_DIRSYNC))
    public static let noAccessTime = MountFlags(rawValue: UInt32(MS_NOATIME))
    public static let noDirectoryAccessTime = MountFlags(rawValue: UInt32(MS_NODIRATIME))
    public static let relativeAccessTime = MountFlags(rawValue: UInt32(MS_RELATIME))
    public static let strictAccessTime = MountFlags(rawValue: UInt32(MS_STRICTATIME))

    /// mount(8)'s words for flags: each sets or clears some.
    private static let words: [String: (set: MountFlags, clear: MountFlags)] = [
        "ro": (.readOnly, []), "rw": ([], .readOnly),
        "nosuid": (.noSetuid, []), "suid": ([], .noSetuid),
        "nodev": (.noDevices, []), "dev": ([], .noDevices),
        "noexec": (.noExecute, []), "exec": ([], .noExecute),
        "sync": (.synchronous, []), "async": ([], .synchronous),
        "dirsync": (.synchronousDirectories, []),
        "noatime": (.noAccessTime, []), "atime": ([], .noAccessTime),
        "nodiratime": (.noDirectoryAccessTime, []), "diratime": ([], .noDirectoryAccessTime),
        "relatime": (.relativeAccessTime, []), "norelatime": ([], .relativeAccessTime),
        "strictatime": (.strictAccessTime, []), "nostrictatime": ([], .strictAccessTime),
        "defaults": ([], []),
    ]

    /// Splits mount(8) option words into flags and data options (the words that are not flags,
    /// in their order); empty words are skipped.
    public static func parse(_ options: [String]) -> (flags: MountFlags, data: [String]) {
        var flags: MountFlags = []
        var data: [String] = []
        for word in options.flatMap({ $0.split(separator: ",").map(String.init) }) where !word.isEmpty {
            if let known = words[word] {
                flags.subtract(known.clear)
                flags.formUnion(known.set)
            } else {
                data.append(word)
            }
        }
        return (flags, data)
    }

    /// The flags as mount(8) words, in a stable order.
    public var words: [String] {
        let named: [(MountFlags, String)] = [
            (.readOnly, "ro"), (.noSetuid, "nosuid"), (.noDevices, "nodev"), (.noExecute, "noexec"), (.synchronous, "sync"),
            (.synchronousDirectories, "dirsync"), (.noAccessTime, "noatime"), (.noDirectoryAccessTime, "nodiratime"),
            (.relativeAccessTime, "relatime"), (.strictAccessTime, "strictatime"),
        ]
        return named.filter { contains($0.0) }.map(\.1)
    }
}

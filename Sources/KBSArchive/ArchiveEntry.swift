/// One member of a tar stream, as its header says.
public struct ArchiveEntry: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case regular, directory, symbolicLink, hardLink, characterDevice, blockDevice, fifo, socket
    }

    /// The name as stored, raw bytes decoded as UTF-8 where they are.
    public var path: String
    public var kind: Kind
    /// Permission bits, with set-uid, set-gid and sticky.
    public var permissions: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var size: Int64
    /// Nanoseconds since the epoch.
    public var modified: Int64
    public var accessed: Int64
    /// A symbolic link's target, or the member a hard link names.
    public var linkTarget: String?
    public var deviceMajor: UInt32
    public var deviceMinor: UInt32
    /// Extended attributes, in header order.
    public var attributes: [Attribute]

    public struct Attribute: Sendable, Equatable {
        public var name: String
        public var value: [UInt8]
        public init(name: String, value: [UInt8]) {
            self.name = name
            self.value = value
        }
    }

    public init(path: String, kind: Kind, permissions: UInt32 = 0o644, uid: UInt32 = 0, gid: UInt32 = 0, size: Int64 = 0,
                modified: Int64 = 0, accessed: Int64 = 0, linkTarget: String? = nil, deviceMajor: UInt32 = 0, deviceMinor: UInt32 = 0,
                attributes: [Attribute] = []) {
        self.path = path
        self.kind = kind
        self.permissions = permissions
        self.uid = uid
        self.gid = gid
        self.size = size
        self.modified = modified
        self.accessed = accessed
        self.linkTarget = linkTarget
        self.deviceMajor = deviceMajor
        self.deviceMinor = deviceMinor
        self.attributes = attributes
    }
}

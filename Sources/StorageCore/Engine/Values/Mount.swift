/// How to mount a snapshot: a block device with a filesystem, handed to the guest as is.
public struct Mount: Sendable, Equatable, Codable {
    /// Filesystem type ("ext4", "xfs").
    public var type: String
    /// Block device path.
    public var source: String
    public var options: [String]

    public init(type: String, source: String, options: [String]) {
        self.type = type
        self.source = source
        self.options = options
    }
}

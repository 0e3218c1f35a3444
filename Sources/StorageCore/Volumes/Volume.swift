import Foundation

/// A volume: a thin, writable block device with a filesystem, made from the same pool as
/// container snapshots, for data that outlives containers (Kata's direct-assigned volumes).
public struct Volume: Sendable, Equatable {
    public var name: String
    public var sizeBytes: UInt64
    public var filesystem: FilesystemType
    /// The block device while attached (volumes stay attached; after a reboot, until first used).
    public var device: String?
    public var state: DeviceState
    /// The pod volume path it is handed to Kata at (`kata-attach`), if any.
    public var kataVolumePath: String?
    /// The volume it was copied from (`snapshot`), if any.
    public var source: String?
    public var created: Date
    /// Labels besides the engine's own.
    public var labels: [String: String]
}

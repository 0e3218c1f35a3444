/// Space and contents of a pool.
public struct PoolStatus: Sendable, Equatable, Codable {
    public var backend: String
    public var layout: String
    public var filesystem: FilesystemType
    public var defaultDeviceSize: UInt64
    public var data: SpaceUsage
    public var metadata: SpaceUsage
    /// The pool's own metadata (thin-pool metadata device); nil for backends without one.
    public var poolMetadata: SpaceUsage?
    public var snapshots: Int
    /// Snapshots by namespace.
    public var snapshotsByNamespace: [String: Int]
    /// Volumes (`VolumeSet`) and the bytes their devices offer (thin: not all of it is used).
    public var volumes: Int
    public var volumeBytes: UInt64
    public var devices: Int
    public var faultyDevices: Int
}

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
    /// The pool's file on the host, for pools kept in one (an XFS pool file).
    public var host: HostSpace?
    /// New snapshots and volumes are refused while less than this fraction of data space is free.
    public var minFree: Double?
    /// How the pool grows by itself; nil: it does not.
    public var autoGrow: EngineConfiguration.AutoGrowth? = nil
    /// Devices by state ("active", "inactive", "faulty", ...).
    public var devicesByState: [String: Int] = [:]
    /// Devices of removed snapshots waiting for the reaper (still open somewhere, or async remove).
    public var queuedForDeletion: Int = 0
    /// The release that answered.
    public var version = Release.version
}

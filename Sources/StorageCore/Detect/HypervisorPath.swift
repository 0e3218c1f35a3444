/// Which way a VM runtime (Kata Containers) will hand a container's root filesystem to its guest,
/// and why: a block device it hot-plugs (virtio-blk/virtio-scsi), or a shared filesystem
/// (virtio-fs/virtio-9p) of a host directory.
public struct HypervisorPath: Sendable, Equatable, Codable {
    public enum Transport: String, Sendable, Codable {
        case block
        case sharedFilesystem = "shared-fs"
    }

    /// What kind of block device holds the filesystem.
    public enum DeviceKind: String, Sendable, Codable {
        case loop
        case dmThin = "dm-thin"
        case deviceMapper = "dm"
        case disk
    }

    /// What was looked at: the rootfs path, or "mounts" for a containerd mount list.
    public var subject: String
    /// The way Kata 3.3.0 and later takes.
    public var transport: Transport
    /// The block device (`/dev/loop3`, `/dev/mapper/pool-thin-7`), when there is one.
    public var device: String?
    /// Its "major:minor".
    public var deviceNumber: String?
    public var deviceKind: DeviceKind?
    public var filesystem: String?
    /// The mount point the path lies on (for a path).
    public var mountPoint: String?
    /// Whether Kata releases before 3.3.0 (which plug device-mapper devices only) take the block way too.
    public var blockBefore3_3: Bool
    /// Why the block way is not taken, or what to know about it; empty when all is as it should be.
    public var reasons: [String]
}

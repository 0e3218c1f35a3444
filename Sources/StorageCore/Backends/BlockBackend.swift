/// Space in a pool: bytes used and available in total.
public struct SpaceUsage: Sendable, Equatable, Codable {
    public var usedBytes: Int64
    public var totalBytes: Int64

    public init(usedBytes: Int64, totalBytes: Int64) {
        self.usedBytes = usedBytes
        self.totalBytes = totalBytes
    }

    public var freeBytes: Int64 { max(0, totalBytes - usedBytes) }
}

/// A pool kept in a file on the host filesystem: what it holds there, and what is left.
public struct HostSpace: Sendable, Equatable, Codable {
    /// Bytes the pool's file occupies on the host (its holes take none).
    public var allocatedBytes: Int64
    /// Free bytes of the host filesystem holding it.
    public var hostFreeBytes: Int64
    /// Bytes the pool's own filesystem used when it was new (its metadata: log, reflink and
    /// reverse-map btrees), counted as used in `data`; nil when not recorded (older pools).
    public var filesystemOverheadBytes: Int64?

    public init(allocatedBytes: Int64, hostFreeBytes: Int64, filesystemOverheadBytes: Int64?) {
        self.allocatedBytes = allocatedBytes
        self.hostFreeBytes = hostFreeBytes
        self.filesystemOverheadBytes = filesystemOverheadBytes
    }
}

/// What one device occupies in the pool.
public struct DeviceUsage: Sendable, Equatable {
    /// Bytes only this device holds (written since it was cloned).
    public var exclusiveBytes: Int64
    /// Bytes it shares with its origin or clones.
    public var sharedBytes: Int64

    public init(exclusiveBytes: Int64, sharedBytes: Int64) {
        self.exclusiveBytes = exclusiveBytes
        self.sharedBytes = sharedBytes
    }
}

/// A pool of thin, copy-on-write block devices: device-mapper thin-pool or reflinked image files.
///
/// Calls block (ioctls, file I/O); the engine records a "trying" state before each and the
/// outcome after, and `attachedDevices`/`deviceIDs` let it reconcile after a crash by looking.
/// Several processes use one pool at once: a backend keeps whatever must be shared between them
/// (a transaction id, its own filesystem's mount) behind locks of its own, across processes.
public protocol BlockBackend: Sendable {
    /// The kind it is registered under: "file", "dm-thin", "memory".
    var kind: String { get }

    /// How this pool is laid out, for people ("native", "xfs-file", "files", "devices", "existing").
    var layout: String { get }

    /// Creates an empty (all-zero) device of `size` bytes.
    func createDevice(_ id: UInt32, size: UInt64) throws(StorageError)

    /// Creates `id` as a copy-on-write snapshot of `origin`, in time independent of the size.
    /// The origin may be attached (at `originPath`); the backend quiesces it as needed.
    func snapshotDevice(_ id: UInt32, from origin: UInt32, originPath: String?) throws(StorageError)

    /// Grows a detached device to `size` bytes.
    func grow(_ id: UInt32, to size: UInt64) throws(StorageError)

    /// Grows the device attached at `path` to `size` bytes while it stays attached and in use
    /// (a mounted filesystem, a guest); the block device shows the new size when this returns.
    func growAttached(_ id: UInt32, path: String, to size: UInt64) throws(StorageError)

    /// Attaches the device (`size` bytes long) and returns its block device path.
    func activate(_ id: UInt32, size: UInt64, readOnly: Bool) throws(StorageError) -> String

    /// Detaches the device attached at `path`. Returns true when the detach is deferred until the
    /// device's last user (a mount elsewhere) lets go; the device is flushed either way.
    @discardableResult
    func deactivate(_ id: UInt32, path: String) throws(StorageError) -> Bool

    /// Deletes an inactive device. Deleting a missing device succeeds.
    func deleteDevice(_ id: UInt32) throws(StorageError)

    /// Space the device holds that differs from `base` (its parent's device), or, without a base,
    /// that it shares with no other device.
    func usage(of id: UInt32, comparedTo base: UInt32?) throws(StorageError) -> DeviceUsage

    /// Every device attached right now and its block device path.
    func attachedDevices() throws(StorageError) -> [UInt32: String]

    /// The block device `id` is attached at, or nil.
    func attachedPath(of id: UInt32) throws(StorageError) -> String?

    /// Whether `id` is attached at `path` (cheaper than `attachedPath` where the backend can tell).
    func isAttached(_ id: UInt32, at path: String) throws(StorageError) -> Bool

    /// Reads `count` bytes at `offset` of a device, attached or not (filesystem superblocks).
    func readBytes(of id: UInt32, offset: Int64, count: Int) throws(StorageError) -> [UInt8]

    /// True when devices are real block devices that can be formatted and mounted.
    var providesBlockDevices: Bool { get }

    /// Every device the backend holds, for reconciliation with the store.
    func deviceIDs() throws(StorageError) -> Set<UInt32>

    /// Data space of the pool.
    func dataSpace() throws(StorageError) -> SpaceUsage

    /// Metadata space of the pool, when the backend keeps metadata of its own (thin-pool).
    func metadataSpace() throws(StorageError) -> SpaceUsage?

    /// A counter the backend advances with every metadata change (the thin-pool's transaction id),
    /// as last seen by this process (never a kernel call: it is read inside transactions); stored
    /// with the graph so that a pool that went back in time is caught at open. Nil when the
    /// backend has none.
    var generation: UInt64? { get }

    /// The generation read from the pool itself, for the check at open.
    func currentGeneration() throws(StorageError) -> UInt64?

    /// False when the pool is shared with another user (an existing thin-pool): a device the
    /// store has no record of is theirs, not an orphan to delete.
    var ownsEveryDevice: Bool { get }

    /// Called when a reaper runs beside the engine (the daemon): a delete that would wait for the
    /// kernel to finish tearing a device down fails as busy instead, and the reaper retries it.
    func setBackgroundDeletion(_ enabled: Bool)

    /// Hands the space of deleted devices back to what holds the pool (the host filesystem under
    /// a pool file) when deletions left some to hand back, or always with `force`, waiting first
    /// until the last deletion is `settle` old; returns the bytes discarded, or nil when nothing
    /// was done (nothing pending, or a backend whose deletions free space by themselves).
    func returnFreedSpace(force: Bool, settle: Duration) throws(StorageError) -> UInt64?

    /// Grows the pool's data space to `size` bytes while it is in use; returns the new data space.
    func growPool(to size: UInt64) throws(StorageError) -> SpaceUsage

    /// What the pool occupies on the host and what the host has left, when the pool lives in a
    /// file there (nil for pools on block devices).
    func hostSpace() throws(StorageError) -> HostSpace?

    /// The `min_free` fraction the pool keeps, when it guards one.
    var minFree: Double? { get }

    /// How the pool guards and grows its space; nil for a backend without a policy.
    var spacePolicy: SpacePolicy? { get }

    /// The backend's settings with `policy` (checked first), to store in the pool record.
    func storedSettings(with policy: SpacePolicy) throws(StorageError) -> [UInt8]

    /// The policy in stored settings `bytes` (another process may have changed it).
    func spacePolicy(stored bytes: [UInt8]) throws(StorageError) -> SpacePolicy

    /// Takes `policy` from now on.
    func apply(_ policy: SpacePolicy)

    /// Logs a warning when the pool's data space crosses 80% or 90% used (once per crossing), and
    /// grows it first when the pool is set to grow by itself; called after changes and by upkeep.
    func watchSpace() throws(StorageError)

    /// Before a queued device's deletion, off the call path (the reaper): hands the device's
    /// blocks down to what holds the pool, so that its delete need not. Nothing for backends
    /// whose deletion does not need it.
    func discardBlocks(of id: UInt32) throws(StorageError)

    /// Called before the pool is destroyed: work a deletion does only to hand space back to what
    /// goes with the pool (a thin-pool's data file) is skipped from then on.
    func prepareToDestroy()

    /// Releases what the pool itself holds (its own filesystem, a loop device) once every device
    /// is detached; used when the pool is destroyed.
    func shutDown() throws(StorageError)
}

extension BlockBackend {
    public func metadataSpace() throws(StorageError) -> SpaceUsage? { nil }
    public var generation: UInt64? { nil }
    public func currentGeneration() throws(StorageError) -> UInt64? { nil }
    public func attachedPath(of id: UInt32) throws(StorageError) -> String? { try attachedDevices()[id] }
    public func isAttached(_ id: UInt32, at path: String) throws(StorageError) -> Bool { try attachedPath(of: id) == path }
    public func setBackgroundDeletion(_ enabled: Bool) {}
    public func prepareToDestroy() {}
    public func discardBlocks(of id: UInt32) throws(StorageError) {}
    public func returnFreedSpace(force: Bool, settle: Duration) throws(StorageError) -> UInt64? { nil }
    public func hostSpace() throws(StorageError) -> HostSpace? { nil }
    public func watchSpace() throws(StorageError) {}
    public var minFree: Double? { nil }
    public var spacePolicy: SpacePolicy? { nil }
    public func storedSettings(with policy: SpacePolicy) throws(StorageError) -> [UInt8] { throw noSpacePolicy }
    public func spacePolicy(stored bytes: [UInt8]) throws(StorageError) -> SpacePolicy { throw noSpacePolicy }
    private var noSpacePolicy: StorageError { StorageError(.failedPrecondition, "a \(kind) pool has no space policy to change") }
    public func apply(_ policy: SpacePolicy) {}
    public func growPool(to size: UInt64) throws(StorageError) -> SpaceUsage {
        throw StorageError(.failedPrecondition, "a \(kind) pool cannot grow in place")
    }
    public var ownsEveryDevice: Bool { true }
}

import Foundation
import KBSSystem
import Logging
import Synchronization

/// The space rules every backend applies to its pool's data space: `min_free` before a new device
/// (a pool that runs dry fails every write of every container on it), and warnings in the log as
/// the pool fills. One per open pool; the warning level it remembers is this process's.
final class SpaceGuard: Sendable {
    /// Fractions used at which a warning is logged, once per crossing upwards.
    static let warningLevels = [0.8, 0.9]

    /// The pool as people know it ("the pool in /var/lib/kata-block", "thin-pool NAME").
    let poolName: String
    /// Whether this pool can grow by itself at all (an XFS pool file, a thin-pool from files).
    let canGrow: Bool
    private let current: Mutex<SpacePolicy>
    private let logger: Logger
    /// Index into `warningLevels` of the highest level crossed and warned about; -1 for none.
    private let warned = Mutex(-1)

    init(poolName: String, policy: SpacePolicy, canGrow: Bool, logger: Logger) {
        self.poolName = poolName
        self.canGrow = canGrow
        current = Mutex(policy)
        self.logger = logger
    }

    var policy: SpacePolicy { current.withLock { $0 } }
    var minFree: Double { policy.minFree }
    /// How the pool grows by itself, when it can and is set to.
    var growth: EngineConfiguration.AutoGrowth? { canGrow ? policy.autoGrow : nil }

    /// Checks a policy this pool is to take: its values, and growth only where the pool can grow.
    func check(_ policy: SpacePolicy) throws(StorageError) {
        try policy.validate()
        if policy.autoGrow != nil && !canGrow {
            throw StorageError(.failedPrecondition, "\(poolName) cannot grow by itself (only an XFS pool file or a thin-pool made from files does); leave auto_grow_step at 0")
        }
    }

    /// Takes a changed policy (set by this process, or by another one and read from the store).
    func apply(_ policy: SpacePolicy) {
        let previous = current.withLock { (current) -> SpacePolicy in
            defer { current = policy }
            return current
        }
        if previous != policy {
            logger.notice("space policy changed", metadata: [
                "pool": "\(poolName)", "minFree": "\(Self.percent(policy.minFree))",
                "autoGrow": "\(policy.autoGrow.map { "\(ByteCount.format(Int64($0.step))) below \(Self.percent($0.threshold))" } ?? "off")",
            ])
        }
    }

    /// "10%": a fraction as the config file and `pool status` write it.
    private static func percent(_ fraction: Double) -> String { String(format: "%.0f%%", 100 * fraction) }

    /// Refuses a new device while less than `minFree` of `space` is free; `what` names the space
    /// ("data", "metadata") and `grow` says how this pool grows, for the error.
    func requireFree(_ space: SpaceUsage, _ what: String, grow: String) throws(StorageError) {
        let free = Self.freeFraction(space)
        let minFree = minFree
        guard free < minFree else { return }
        throw StorageError(.noSpace, String(
            format: "%@ has %@ of %@ %@ space free (%.1f%%), below min_free %.0f%%; new snapshots and volumes are refused until there is room (%@)",
            poolName, ByteCount.format(space.freeBytes), ByteCount.format(space.totalBytes), what, 100 * free, 100 * minFree, grow), remedy: .freeSpace)
    }

    /// Logs a warning when `space` has crossed a warning level upwards since the last call, and
    /// an info when it went back below the levels warned about.
    func observe(_ space: SpaceUsage) {
        let used = 1 - Self.freeFraction(space)
        let level = Self.warningLevels.lastIndex { used >= $0 } ?? -1
        let previous = warned.withLock { (warned) -> Int in
            defer { warned = level }
            return warned
        }
        if level > previous {
            logger.warning("pool is filling up", metadata: [
                "pool": "\(poolName)", "used": "\(String(format: "%.1f%%", 100 * used))",
                "free": "\(ByteCount.format(space.freeBytes))", "minFree": "\(Self.percent(minFree))",
                "remedy": "remove unused images and snapshots, or grow the pool",
            ])
        } else if level < previous {
            logger.info("pool space back below a warning level", metadata: ["pool": "\(poolName)", "used": "\(String(format: "%.1f%%", 100 * used))"])
        }
    }

    /// `current`, or what `grow` makes of it when the pool grows by itself (`growth`) and has
    /// fallen below its threshold; a growth the host cannot back is logged, not thrown (the
    /// `min_free` check that follows says what the caller needs to know). Observed for warnings.
    func afterGrowth(
        current: SpaceUsage, grow: (EngineConfiguration.AutoGrowth) throws(StorageError) -> SpaceUsage
    ) throws(StorageError) -> SpaceUsage {
        var space = current
        let growth = growth
        if let growth, Self.freeFraction(space) < growth.threshold {
            do throws(StorageError) {
                space = try grow(growth)
            } catch where error.code == .noSpace {
                logger.warning("the pool could not grow by itself", metadata: ["pool": "\(poolName)", "error": "\(error.message)"])
            }
        }
        observe(space)
        return space
    }

    /// The rule of every growth: the pool never offers free space the host filesystem under it
    /// (`host`, at `location`) could not back. Growing `pool` by `adding` bytes to `size` is refused
    /// with the numbers when it would.
    static func requireHostRoom(_ host: Files.Space, at location: String, for pool: SpaceUsage, adding: Int64, size: UInt64) throws(StorageError) {
        let offered = pool.freeBytes + adding
        guard host.freeBytes < offered else { return }
        throw StorageError(.noSpace, "the host filesystem under \(location) has \(ByteCount.format(host.freeBytes)) free; a pool of \(ByteCount.format(Int64(size))) would offer \(ByteCount.format(offered)) it could not back",
                           remedy: .freeSpace)
    }

    static func freeFraction(_ space: SpaceUsage) -> Double { Double(space.freeBytes) / Double(max(1, space.totalBytes)) }
}

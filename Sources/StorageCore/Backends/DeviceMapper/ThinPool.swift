import Foundation
import KBSDeviceMapper
import KBSSystem
import Logging
import Synchronization

/// Thin devices on a device-mapper thin-pool: a snapshot is `create_snap`, a device is a `thin`
/// table over the pool. Every metadata change advances the pool's transaction id first, under a
/// lock every process using the pool takes, so the ids of concurrent processes never collide and
/// the engine can tell at open whether the pool and its store went apart.
final class ThinPool: PolicyGuardedBackend {
    let settings: ThinPoolSettings
    let logger: Logger
    /// Serializes metadata messages (set_transaction_id + change) and metadata snapshots across processes.
    let metadataLockFile: String
    /// The pool's transaction id as this process last set or read it; 0 before the first read.
    let lastTransactionID = Atomic<UInt64>(0)
    let backgroundDeletion = Atomic<Bool>(false)
    /// Deleted devices' blocks are discarded down to the data device (off while the pool is
    /// destroyed with its files).
    let discardsDeletions = Atomic<Bool>(true)
    /// Devices whose blocks this process discarded and has not deleted yet.
    let discarded = Mutex<Set<UInt32>>([])
    /// Serializes discards of one device across processes (a byte-range lock per device id).
    let discardLockFile: String
    let space: SpaceGuard

    var kind: String { ThinPoolFactory.kind }
    var layout: String { settings.source.name }
    var providesBlockDevices: Bool { true }
    var ownsEveryDevice: Bool { settings.source != .existing }
    var poolName: String { settings.poolName }
    var poolPath: String { DeviceMapper.path(of: poolName) }

    /// Makes the pool `settings` describe (files are created at `dataSize`; devices are used
    /// whole) or, for an existing pool, checks that it is there.
    static func create(_ settings: ThinPoolSettings, dataSize: UInt64, directory: String, logger: Logger) throws(StorageError) -> ThinPool {
        try settings.validate()
        guard DeviceMapper.isAvailable() else {
            throw StorageError(.unavailable, "device-mapper is not available in this kernel; load dm-thin-pool or use the file backend",
                               remedy: .installDependencies)
        }
        let pool = try ThinPool(settings: settings, directory: directory, logger: logger)
        let existing = try deviceMapper("cannot look up \(settings.poolName)") { () throws(DeviceMapperError) in try DeviceMapper.info(settings.poolName) }
        switch settings.source {
        case .existing:
            guard existing != nil else {
                throw StorageError(.notFound, "thin-pool \(settings.poolName) does not exist; create it, or let kata-block make one from files or devices")
            }
            _ = try pool.status()
        case .files(let data, let metadata):
            guard existing == nil else {
                throw StorageError(.alreadyExists, "a device-mapper device named \(settings.poolName) already exists", remedy: .chooseAnother)
            }
            try system("cannot make the thin-pool's files") { () throws(SystemCallError) in
                for file in [data, metadata] {
                    if let slash = file.lastIndex(of: "/"), slash != file.startIndex { try Files.makeDirectory(String(file[..<slash])) }
                }
                try Files.sizeFile(data, to: dataSize, creating: true)
                try Files.sizeFile(metadata, to: ThinPoolSettings.metadataSize(dataSize: dataSize, dataBlockSize: settings.dataBlockSize), creating: true)
            }
            try pool.bringUp()
        case .devices(_, let metadata):
            guard existing == nil else {
                throw StorageError(.alreadyExists, "a device-mapper device named \(settings.poolName) already exists", remedy: .chooseAnother)
            }
            // A stale superblock on the metadata device would be taken for a pool: wipe it.
            try system("cannot clear the metadata device \(metadata)") { () throws(SystemCallError) in
                try FileDescriptor.withOpened(metadata, FileDescriptor.Access.writeOnly.exclusive) { (fd) throws(SystemCallError) in
                    try fd.write([UInt8](repeating: 0, count: 4096), at: 0)
                    try fd.sync()
                }
            }
            try pool.bringUp()
        }
        logger.info("thin-pool ready", metadata: ["pool": "\(settings.poolName)", "blockSize": "\(settings.dataBlockSize)"])
        return pool
    }

    /// Opens the pool, creating its table again after a reboot.
    static func open(_ settings: ThinPoolSettings, directory: String, logger: Logger) throws(StorageError) -> ThinPool {
        let pool = try ThinPool(settings: settings, directory: directory, logger: logger)
        try pool.bringUp()
        return pool
    }

    private init(settings: ThinPoolSettings, directory: String, logger: Logger) throws(StorageError) {
        self.settings = settings
        self.logger = logger
        space = SpaceGuard(poolName: "thin-pool \(settings.poolName)", policy: settings.policy, canGrow: settings.canGrow, logger: logger)
        metadataLockFile = "\(directory)/thin-metadata.lock"
        discardLockFile = "\(directory)/thin-discard.lock"
        try system("cannot create \(directory)") { () throws(SystemCallError) in try Files.makeDirectory(directory) }
        DeviceMapper.setLogger(logger)
    }

    /// Runs `body` holding the pool's metadata lock.
    func whileMetadataLocked<R>(_ body: () throws(StorageError) -> R) throws(StorageError) -> R {
        try FileLock.withExclusive(metadataLockFile, mapError: { StorageError($0, "cannot lock the thin-pool's metadata") }, body)
    }

    /// Creates the pool device from its data and metadata devices unless it is live already.
    func bringUp() throws(StorageError) {
        try whileMetadataLocked { () throws(StorageError) in
            guard try deviceMapper("cannot look up \(poolName)", { () throws(DeviceMapperError) in try DeviceMapper.info(poolName) }) == nil else { return }
            try createPoolDevice()
        }
        lastTransactionID.store(try status().transactionID, ordering: .relaxed)
    }

    private func createPoolDevice() throws(StorageError) {
        let dataDevice: String, metadataDevice: String
        switch settings.source {
        case .existing:
            throw StorageError(.notFound, "thin-pool \(poolName) is not active; activate it (it is managed outside kata-block) and retry")
        case .devices(let data, let metadata):
            (dataDevice, metadataDevice) = (data, metadata)
        case .files(let data, let metadata):
            (dataDevice, metadataDevice) = try system("cannot attach the thin-pool's files") { () throws(SystemCallError) -> (String, String) in
                let attached = Dictionary(try LoopDevice.attachments().map { ($0.file, $0.device) }, uniquingKeysWith: { a, _ in a })
                let attach = { (file: String) throws(SystemCallError) -> String in
                    try attached[file].or { () throws(SystemCallError) in try LoopDevice.attach(file, readOnly: false, directIO: true) }
                }
                let meta = try attach(metadata)
                do throws(SystemCallError) {
                    return (try attach(data), meta)
                } catch {
                    _ = try? LoopDevice.detach(meta)
                    throw error
                }
            }
        }
        let dataBlocks = try Self.byteSize(of: dataDevice) / settings.dataBlockSize
        guard dataBlocks > 0 else {
            throw StorageError(.invalidArgument, "data device \(dataDevice) is smaller than one \(settings.dataBlockSize)-byte block")
        }
        let table = poolTable(metadata: metadataDevice, data: dataDevice, dataBlocks: dataBlocks)
        do throws(StorageError) {
            // A concurrent loop attach claims candidate loop devices exclusively for a moment
            // (LOOP_CONFIGURE), so the pool's claim of its own can meet EBUSY: retried, removing
            // the half-made pool device of the failed attempt first.
            try whileBusy(tries: 20, pause: .milliseconds(100)) { () throws(StorageError) in
                try deviceMapper("cannot create thin-pool \(poolName)") { () throws(DeviceMapperError) in
                    if try DeviceMapper.info(poolName) != nil { try DeviceMapper.remove(poolName) }
                    try DeviceMapper.create(poolName, table: [table], readOnly: false)
                }
            }
        } catch {
            if case .files = settings.source {
                _ = try? LoopDevice.detach(dataDevice)
                _ = try? LoopDevice.detach(metadataDevice)
            }
            throw error
        }
        logger.info("thin-pool activated", metadata: ["pool": "\(poolName)", "data": "\(dataDevice)", "metadata": "\(metadataDevice)", "blocks": "\(dataBlocks)"])
    }

    /// The pool's table over `dataBlocks` blocks of `data`: a low-water mark at a tenth of the
    /// pool, and writes failing at once when the pool is full instead of queueing.
    func poolTable(metadata: String, data: String, dataBlocks: UInt64) -> DeviceMapper.Target {
        let blockSectors = settings.dataBlockSize / 512
        return DeviceMapper.Target(start: 0, sectors: dataBlocks * blockSectors, type: "thin-pool",
                                   parameters: "\(metadata) \(data) \(blockSectors) \(max(1, dataBlocks / 10)) 1 error_if_no_space")
    }

    /// Removes the pool device and detaches its loop devices, when kata-block made it.
    func shutDown() throws(StorageError) {
        guard settings.source != .existing else { return }
        let devices = try? poolDevices()
        // Thin devices detached a moment ago may still be on their way out; they hold the pool.
        let prefix = "\(poolName)-thin-"
        for name in try deviceMapper("cannot list devices", { () throws(DeviceMapperError) in try DeviceMapper.names() }) where name.hasPrefix(prefix) {
            _ = try waitForRemoval(name)
        }
        // ... and their tables let go of the pool a moment after their names are gone.
        try whileBusy { () throws(StorageError) in
            try deviceMapper("cannot remove thin-pool \(poolName)") { () throws(DeviceMapperError) in
                if try DeviceMapper.info(poolName) != nil { try DeviceMapper.remove(poolName) }
            }
        }
        if case .files = settings.source, let devices {
            try system("cannot detach the thin-pool's files") { () throws(SystemCallError) in
                try LoopDevice.detach(devices.data)
                try LoopDevice.detach(devices.metadata)
            }
        }
    }

    /// Runs `body` again while the kernel says busy (`tries` times, `pause` apart): a device let
    /// go of a moment ago may still hold what `body` needs.
    func whileBusy<T>(tries: Int = 400, pause: Duration = .milliseconds(5), _ body: () throws(StorageError) -> T) throws(StorageError) -> T {
        var attempt = 0
        while true {
            do throws(StorageError) {
                return try body()
            } catch where error.code == .busy && attempt < tries {
                attempt += 1
                logger.debug("device-mapper busy; retrying", metadata: ["pool": "\(poolName)", "error": "\(error)"])
                Thread.sleep(forTimeInterval: pause.seconds)
            }
        }
    }

    /// Waits (up to 10 s) for the kernel to finish a deferred removal nobody holds up.
    func waitForRemoval(_ name: String) throws(StorageError) -> Bool {
        for _ in 0..<2000 {
            guard let info = try deviceMapper("cannot look up \(name)", { () throws(DeviceMapperError) in try DeviceMapper.info(name) }) else { return true }
            if info.openCount > 0 { return false }
            Thread.sleep(forTimeInterval: 0.005)
        }
        return false
    }

    // MARK: Pool-wide

    func dataSpace() throws(StorageError) -> SpaceUsage {
        let s = try status()
        return SpaceUsage(usedBytes: Int64(s.usedDataBlocks * settings.dataBlockSize), totalBytes: Int64(s.totalDataBlocks * settings.dataBlockSize))
    }

    func metadataSpace() throws(StorageError) -> SpaceUsage? {
        let s = try status()
        return SpaceUsage(usedBytes: Int64(s.usedMetadataBlocks * ThinPoolStatus.metadataBlockSize),
                          totalBytes: Int64(s.totalMetadataBlocks * ThinPoolStatus.metadataBlockSize))
    }

    var generation: UInt64? {
        let known = lastTransactionID.load(ordering: .relaxed)
        return known == 0 ? nil : known
    }

    func currentGeneration() throws(StorageError) -> UInt64? { try status().transactionID }

    func status() throws(StorageError) -> ThinPoolStatus {
        guard let line = try deviceMapper("cannot read the status of \(poolName)", { () throws(DeviceMapperError) in try DeviceMapper.status(poolName) }).first,
              line.type == "thin-pool" else {
            throw StorageError(.unavailable, "\(poolName) is not a thin-pool")
        }
        return try ThinPoolStatus(parameters: line.parameters)
    }

    /// The pool's metadata and data block devices, from its live table ("major:minor" numbers).
    func poolDevices() throws(StorageError) -> (metadata: String, data: String) {
        guard let line = try deviceMapper("cannot read the table of \(poolName)", { () throws(DeviceMapperError) in try DeviceMapper.table(poolName) }).first,
              line.type == "thin-pool" else {
            throw StorageError(.unavailable, "\(poolName) is not a thin-pool")
        }
        let fields = line.parameters.split(separator: " ").map(String.init)
        guard fields.count >= 2 else { throw StorageError(.internal, "cannot read the table of \(poolName)") }
        return (try Self.devicePath(fields[0]), try Self.devicePath(fields[1]))
    }

    /// `/dev/NAME` of a block device given as "major:minor" (or a path already).
    static func devicePath(_ number: String) throws(StorageError) -> String {
        if number.hasPrefix("/") { return number }
        guard let uevent = try system("cannot read /sys/dev/block/\(number)", { () throws(SystemCallError) in try Files.readIfPresent("/sys/dev/block/\(number)/uevent") }),
              let line = uevent.split(separator: "\n").first(where: { $0.hasPrefix("DEVNAME=") }) else {
            throw StorageError(.notFound, "block device \(number) has no entry in /sys/dev/block")
        }
        return "/dev/\(line.dropFirst("DEVNAME=".count))"
    }

    static func byteSize(of device: String) throws(StorageError) -> UInt64 {
        try system("cannot size \(device)") { () throws(SystemCallError) -> UInt64 in
            try FileDescriptor.withOpened(device, .readOnly) { (fd) throws(SystemCallError) in try fd.size() }
        }
    }
}



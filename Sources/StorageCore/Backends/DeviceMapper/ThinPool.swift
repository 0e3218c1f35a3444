import Glibc
import Logging
import Synchronization

/// Thin devices on a device-mapper thin-pool: a snapshot is `create_snap`, a device is a `thin`
/// table over the pool. Every metadata change advances the pool's transaction id first, so the
/// engine can tell at start whether the pool and its store went apart.
public final class ThinPool: BlockBackend {
    public let settings: ThinPoolSettings
    let logger: Logger
    /// Serializes metadata messages (set_transaction_id + change) and metadata snapshots;
    /// holds the pool's transaction id once read.
    let metadataLock = Mutex<UInt64?>(nil)
    private let backgroundDeletion = Atomic<Bool>(false)

    public var kind: String { "dm-thin" }
    public var providesBlockDevices: Bool { true }
    public var ownsEveryDevice: Bool { settings.source != .existing }
    var poolName: String { settings.poolName }
    var poolPath: String { DeviceMapper.path(of: poolName) }

    /// Makes the pool described by `settings` (files are created at `size`; devices are used whole)
    /// or, for an existing pool, checks that it is there.
    public static func create(_ settings: ThinPoolSettings, dataSize: UInt64, logger: Logger) throws(StorageError) -> ThinPool {
        try settings.validate()
        guard DeviceMapper.isAvailable() else {
            throw StorageError(.unavailable, "device-mapper is not available in this kernel; load it with `modprobe dm-thin-pool` or use `--backend file`")
        }
        let pool = ThinPool(settings: settings, logger: logger)
        if settings.source != .existing, try DeviceMapper.info(settings.poolName) != nil {
            throw StorageError(.alreadyExists, "a device-mapper device named \(settings.poolName) already exists; choose another --pool-name")
        }
        switch settings.source {
        case .existing:
            guard try DeviceMapper.info(settings.poolName) != nil else {
                throw StorageError(.notFound, "thin-pool \(settings.poolName) does not exist; create it, or let `snapctl pool create --backend dm-thin` make one from files or devices")
            }
            _ = try pool.status()
        case .files(let data, let metadata):
            for file in [data, metadata] {
                if let slash = file.lastIndex(of: "/"), slash != file.startIndex { try ReflinkFilePool.makeDirectory(String(file[..<slash])) }
            }
            try ReflinkFilePool.sizeFile(data, to: dataSize, creating: true)
            try ReflinkFilePool.sizeFile(metadata, to: ThinPoolSettings.metadataSize(dataSize: dataSize, dataBlockSize: settings.dataBlockSize), creating: true)
            try pool.bringUp()
        case .devices(_, let metadata):
            // A stale superblock on the metadata device would be taken for a pool: wipe it.
            try FileDescriptor.withOpened(metadata, O_WRONLY | O_EXCL) { (fd) throws(StorageError) in
                let zeros = [UInt8](repeating: 0, count: 4096)
                try systemCall("pwrite(\(metadata))", "cannot clear the metadata device \(metadata)") {
                    zeros.withUnsafeBytes { pwrite(fd.raw, $0.baseAddress, 4096, 0) }
                }
                try systemCall("fsync(\(metadata))", "cannot clear the metadata device \(metadata)") { fsync(fd.raw) }
            }
            try pool.bringUp()
        }
        logger.info("thin-pool ready", metadata: ["pool": "\(settings.poolName)", "blockSize": "\(settings.dataBlockSize)"])
        return pool
    }

    /// Opens the pool, re-creating its table after a reboot (`snapctl pool activate`).
    public static func open(_ settings: ThinPoolSettings, logger: Logger) throws(StorageError) -> ThinPool {
        let pool = ThinPool(settings: settings, logger: logger)
        try pool.bringUp()
        return pool
    }

    private init(settings: ThinPoolSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    /// Creates the pool device from its data and metadata devices unless it is live already.
    func bringUp() throws(StorageError) {
        guard try DeviceMapper.info(poolName) == nil else { return }
        let dataDevice: String, metadataDevice: String
        switch settings.source {
        case .existing:
            throw StorageError(.notFound, "thin-pool \(poolName) is not active; activate it (it is managed outside kata-block) and retry")
        case .devices(let data, let metadata):
            (dataDevice, metadataDevice) = (data, metadata)
        case .files(let data, let metadata):
            let attached = Dictionary(LoopDevice.attachments().map { ($0.file, $0.device) }, uniquingKeysWith: { a, _ in a })
            if let device = attached[metadata] { metadataDevice = device } else {
                metadataDevice = try LoopDevice.attach(metadata, readOnly: false, directIO: true)
            }
            do throws(StorageError) {
                if let device = attached[data] { dataDevice = device } else {
                    dataDevice = try LoopDevice.attach(data, readOnly: false, directIO: true)
                }
            } catch {
                _ = try? LoopDevice.detach(metadataDevice)
                throw error
            }
        }
        let blockSectors = settings.dataBlockSize / 512
        let dataBlocks = try Self.byteSize(of: dataDevice) / settings.dataBlockSize
        guard dataBlocks > 0 else {
            throw StorageError(.invalidArgument, "data device \(dataDevice) is smaller than one \(settings.dataBlockSize)-byte block")
        }
        let table = DeviceMapper.Target(
            start: 0, sectors: dataBlocks * blockSectors, type: "thin-pool",
            parameters: "\(metadataDevice) \(dataDevice) \(blockSectors) \(max(1, dataBlocks / 10)) 1 error_if_no_space")
        do throws(StorageError) {
            // Another process attaching a loop device claims candidate loop devices exclusively
            // for a moment (LOOP_CONFIGURE), so the pool's claim of its own can meet EBUSY: retry,
            // removing the half-made pool device of the failed attempt first.
            try whileBusy(tries: 20, pause: 100_000) { () throws(StorageError) in
                if try DeviceMapper.info(poolName) != nil { try DeviceMapper.remove(poolName) }
                try DeviceMapper.create(poolName, table: [table], readOnly: false)
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

    /// Removes the pool device and detaches its loop devices, when we made it.
    public func shutDown() throws(StorageError) {
        guard settings.source != .existing else { return }
        let devices = try? poolDevices()
        // Thin devices detached a moment ago may still be on their way out; they hold the pool.
        let prefix = "\(poolName)-thin-"
        for name in try DeviceMapper.names() where name.hasPrefix(prefix) {
            _ = try waitForRemoval(name)
        }
        // ... and their tables let go of the pool a moment after their names are gone.
        try whileBusy { () throws(StorageError) in
            if try DeviceMapper.info(poolName) != nil { try DeviceMapper.remove(poolName) }
        }
        if case .files = settings.source, let devices {
            try LoopDevice.detach(devices.data)
            try LoopDevice.detach(devices.metadata)
        }
    }

    // MARK: Thin devices

    func thinName(_ id: UInt32) -> String { "\(poolName)-thin-\(id)" }

    public func createDevice(_ id: UInt32, size: UInt64) throws(StorageError) {
        try guardFreeSpace()
        try makeThin(id, "create_thin \(id)")
    }

    public func snapshotDevice(_ id: UInt32, from origin: UInt32, originPath: String?) throws(StorageError) {
        try guardFreeSpace()
        // The kernel requires an active origin to be suspended (its filesystem frozen) around
        // create_snap. One nobody has open and that is on its way out takes no I/O: no suspend.
        let originName = thinName(origin)
        guard let info = try DeviceMapper.info(originName), !info.suspended, !(info.deferredRemove && info.openCount == 0) else {
            return try makeThin(id, "create_snap \(id) \(origin)")
        }
        try DeviceMapper.suspend(originName)
        let snapped = Result { () throws(StorageError) in try makeThin(id, "create_snap \(id) \(origin)") }
        try DeviceMapper.resume(originName)
        try snapped.get()
    }

    /// Thin devices take their size from the activation table: nothing to do until then.
    public func grow(_ id: UInt32, to size: UInt64) throws(StorageError) {}

    public func activate(_ id: UInt32, size: UInt64, readOnly: Bool) throws(StorageError) -> String {
        let name = thinName(id)
        if let info = try DeviceMapper.info(name) {
            guard info.deferredRemove else { return DeviceMapper.path(of: name) }
            guard info.openCount == 0, try waitForRemoval(name) else {
                throw StorageError(.busy, "device \(id) is still open from an earlier attach that is being removed; retry after its user closes it")
            }
        }
        try DeviceMapper.create(name, table: thinTable(id, bytes: size), readOnly: readOnly)
        return DeviceMapper.path(of: name)
    }

    /// The table that maps thin device `id` of this pool as a block device of `bytes`.
    private func thinTable(_ id: UInt32, bytes: UInt64) -> [DeviceMapper.Target] {
        [.init(start: 0, sectors: (bytes + 511) / 512, type: "thin", parameters: "\(poolPath) \(id)")]
    }

    /// Detaches without waiting for the kernel's teardown of the block device (tens of ms of
    /// RCU grace periods): the device is held open across a deferred remove, and closing it hands
    /// the removal to the kernel's deferred-remove worker. A device someone else still has open
    /// (a mount, a guest) goes when they close it; then the result is true.
    @discardableResult
    public func deactivate(_ id: UInt32, path: String) throws(StorageError) -> Bool {
        let name = thinName(id)
        guard path == DeviceMapper.path(of: name), let info = try DeviceMapper.info(name) else { return false }
        if info.deferredRemove { return info.openCount > 0 }
        do throws(StorageError) {
            try FileDescriptor.withOpened(path, O_RDONLY) { (_) throws(StorageError) in try DeviceMapper.remove(name, deferred: true) }
        } catch where error.code == .notFound {
            try DeviceMapper.remove(name)  // no node to hold open: remove and wait
        }
        if info.openCount > 0 {
            logger.info("device busy; removal deferred to its last close", metadata: ["device": "\(name)"])
            return true
        }
        return false
    }

    public func deleteDevice(_ id: UInt32) throws(StorageError) {
        let name = thinName(id)
        if let info = try DeviceMapper.info(name) {
            let leaving = info.deferredRemove && info.openCount == 0
            let gone = leaving && !backgroundDeletion.load(ordering: .relaxed) ? try waitForRemoval(name) : false
            if !gone {
                throw StorageError(.busy, "device \(id) is still open\(info.deferredRemove ? " (removal deferred to its last close)" : ""); it is deleted once its user closes it")
            }
        }
        // A device whose removal just finished may hold its thin device a moment longer (the
        // name goes before the table): a busy delete is retried briefly.
        try whileBusy { () throws(StorageError) in
            do throws(StorageError) {
                try changeMetadata("delete \(id)")
            } catch where (error.cause as? SystemCallError)?.errno == ENODATA {
                return  // never created, or deleted already
            }
        }
    }

    public func setBackgroundDeletion(_ enabled: Bool) { backgroundDeletion.store(enabled, ordering: .relaxed) }

    /// Runs `body` again while the kernel says busy (`tries` times, `pause` µs apart): a device
    /// let go of a moment ago may still hold what `body` needs.
    private func whileBusy<T>(tries: Int = 400, pause: UInt32 = 5_000, _ body: () throws(StorageError) -> T) throws(StorageError) -> T {
        var attempt = 0
        while true {
            do throws(StorageError) {
                return try body()
            } catch where error.code == .busy && attempt < tries {
                attempt += 1
                logger.debug("device-mapper busy; retrying", metadata: ["pool": "\(poolName)", "error": "\(error)"])
                usleep(pause)
            }
        }
    }

    /// Waits (up to 10 s) for the kernel to finish a deferred removal nobody holds up.
    private func waitForRemoval(_ name: String) throws(StorageError) -> Bool {
        for _ in 0..<2000 {
            guard let info = try DeviceMapper.info(name) else { return true }
            if info.openCount > 0 { return false }
            usleep(5_000)
        }
        return false
    }

    public func attachedDevices() throws(StorageError) -> [UInt32: String] {
        let prefix = "\(poolName)-thin-"
        var result: [UInt32: String] = [:]
        for name in try DeviceMapper.names() where name.hasPrefix(prefix) {
            guard let id = UInt32(name.dropFirst(prefix.count)), let info = try DeviceMapper.info(name), !info.deferredRemove else { continue }
            result[id] = DeviceMapper.path(of: name)
        }
        return result
    }

    public func readBytes(of id: UInt32, offset: Int64, count: Int) throws(StorageError) -> [UInt8] {
        let name = thinName(id)
        if try DeviceMapper.info(name) != nil { return try FileDescriptor.read(DeviceMapper.path(of: name), offset: offset, count: count) }
        // Not attached: a short read-only activation under a name of its own.
        let peek = "\(poolName)-peek-\(id)"
        if try DeviceMapper.info(peek) != nil { try DeviceMapper.remove(peek) }
        try DeviceMapper.create(peek, table: thinTable(id, bytes: UInt64(offset) + UInt64(count) + (1 << 20)), readOnly: true)
        defer { try? DeviceMapper.remove(peek) }
        return try FileDescriptor.read(DeviceMapper.path(of: peek), offset: offset, count: count)
    }

    // MARK: Pool-wide

    public func dataSpace() throws(StorageError) -> SpaceUsage {
        let s = try status()
        return SpaceUsage(usedBytes: Int64(s.usedDataBlocks * settings.dataBlockSize), totalBytes: Int64(s.totalDataBlocks * settings.dataBlockSize))
    }

    public func metadataSpace() throws(StorageError) -> SpaceUsage? {
        let s = try status()
        return SpaceUsage(usedBytes: Int64(s.usedMetadataBlocks * ThinPoolStatus.metadataBlockSize),
                          totalBytes: Int64(s.totalMetadataBlocks * ThinPoolStatus.metadataBlockSize))
    }

    public var generation: UInt64? {
        if let cached = metadataLock.withLock({ $0 }) { return cached }
        return try? status().transactionID
    }

    func status() throws(StorageError) -> ThinPoolStatus {
        guard let line = try DeviceMapper.status(poolName).first, line.type == "thin-pool" else {
            throw StorageError(.unavailable, "\(poolName) is not a thin-pool")
        }
        return try ThinPoolStatus(parameters: line.parameters)
    }

    /// Refuses new devices while free data or metadata space is below `min_free`: a pool that
    /// runs dry fails every write of every container on it.
    private func guardFreeSpace() throws(StorageError) {
        let s = try status()
        if s.mode != "rw" || s.needsCheck {
            throw StorageError(.noSpace, "thin-pool \(poolName) is \(s.needsCheck ? "marked needs_check" : s.mode); free space (remove snapshots) or repair it with thin_check")
        }
        let free = s.freeFraction()
        let limit = settings.minFreeFraction
        if free.data < limit || free.metadata < limit {
            let which = free.data < limit ? "data" : "metadata"
            throw StorageError(.noSpace, String(format: "thin-pool %@ has %.1f%% %@ space free, below min_free %.1f%%; remove snapshots (`snapctl snapshot rm`, `snapctl cleanup`) or grow the pool",
                                                poolName, 100 * min(free.data, free.metadata), which, 100 * limit))
        }
    }

    /// Makes thin device `id` with `message`; in a pool shared with another user the id may be
    /// theirs already: say so (a retry takes the next id) rather than "already exists".
    private func makeThin(_ id: UInt32, _ message: String) throws(StorageError) {
        do throws(StorageError) {
            try changeMetadata(message)
        } catch where error.code == .alreadyExists {
            throw StorageError(.unavailable, "thin device id \(id) is already taken in pool \(poolName) (by another user of the pool, or a device left behind); retry, and run `snapctl fsck`", cause: error)
        }
    }

    /// Advances the pool's transaction id, then sends the change; the two go together under one lock.
    private func changeMetadata(_ text: String) throws(StorageError) {
        try metadataLock.withLock { (transaction) throws(StorageError) in
            try advanceTransaction(&transaction)
            try DeviceMapper.message(poolName, text)
        }
    }

    /// Moves the pool's transaction id on by one (a metadata commit); call with `metadataLock` held,
    /// passing the id it guards (nil until first read from the pool's status).
    func advanceTransaction(_ transaction: inout UInt64?) throws(StorageError) {
        let current: UInt64
        if let known = transaction { current = known } else { current = try status().transactionID }
        try DeviceMapper.message(poolName, "set_transaction_id \(current) \(current + 1)")
        transaction = current + 1
    }

    /// The pool's metadata and data block devices, from its live table ("major:minor" numbers).
    func poolDevices() throws(StorageError) -> (metadata: String, data: String) {
        guard let line = try DeviceMapper.table(poolName).first, line.type == "thin-pool" else {
            throw StorageError(.unavailable, "\(poolName) is not a thin-pool")
        }
        let fields = line.parameters.split(separator: " ").map(String.init)
        guard fields.count >= 2 else { throw StorageError(.internal, "cannot read the table of \(poolName)") }
        return (try Self.devicePath(fields[0]), try Self.devicePath(fields[1]))
    }

    /// `/dev/NAME` of a block device given as "major:minor" (or a path already).
    static func devicePath(_ number: String) throws(StorageError) -> String {
        if number.hasPrefix("/") { return number }
        guard let uevent = readSmallFile("/sys/dev/block/\(number)/uevent"),
              let line = uevent.split(separator: "\n").first(where: { $0.hasPrefix("DEVNAME=") }) else {
            throw StorageError(.notFound, "block device \(number) has no entry in /sys/dev/block")
        }
        return "/dev/\(line.dropFirst("DEVNAME=".count))"
    }

    static func byteSize(of device: String) throws(StorageError) -> UInt64 {
        try FileDescriptor.withOpened(device, O_RDONLY) { (fd) throws(StorageError) -> UInt64 in
            UInt64(try systemCall("lseek(\(device))", "cannot size \(device)") { lseek(fd.raw, 0, SEEK_END) })
        }
    }
}

extension ThinPool {
    /// True when this kernel has device-mapper (the thin-pool target loads on first use).
    public static var isAvailable: Bool { DeviceMapper.isAvailable() }
}

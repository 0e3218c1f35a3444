import KBSSystem
import Logging

/// Thin devices as sparse image files: a snapshot is a reflink clone, a device is a loop attachment.
///
/// Images live in a directory whose filesystem can reflink. When the state directory's own
/// filesystem cannot (ext4), the pool keeps an XFS (`reflink=1`) file of its own, loop-attached
/// and mounted under the pool directory; it never falls back to copying. Every process using the
/// pool shares that one mount: bringing it up and taking it down happen under a lock in the pool
/// directory, so it is never mounted twice.
final class ReflinkFilePool: PolicyGuardedBackend {
    let directory: String
    let settings: FilePoolSettings
    let imagesDirectory: String
    let logger: Logger
    let space: SpaceGuard

    var kind: String { FilePoolFactory.kind }
    var layout: String { settings.layout.rawValue }
    var providesBlockDevices: Bool { true }

    var xfsFile: String { "\(directory)/pool.xfs" }
    var xfsMount: String { "\(directory)/xfs" }
    private var lockFile: String { "\(directory)/pool.lock" }

    /// Sets up a new pool in `directory`: native when it can reflink, else an XFS file of `size` bytes.
    static func create(directory: String, size: UInt64, policy: EngineConfiguration.File, logger: Logger) throws(StorageError) -> ReflinkFilePool {
        try system("cannot create \(directory)") { () throws(SystemCallError) in try Files.makeDirectory(directory) }
        let native = try system("cannot probe \(directory) for reflink") { () throws(SystemCallError) in try Reflink.isSupported(in: directory) }
        var settings = FilePoolSettings(layout: native ? .native : .xfsFile, policy: policy)
        let pool = ReflinkFilePool(directory: directory, settings: settings, logger: logger)
        if !native {
            logger.info("pool directory cannot reflink; making an XFS pool file", metadata: ["file": "\(pool.xfsFile)", "bytes": "\(size)"])
            try system("cannot make the pool file \(pool.xfsFile)") { () throws(SystemCallError) in
                try Files.sizeFile(pool.xfsFile, to: size, creating: true)
            }
            try tool("cannot format the pool file", "mkfs.xfs", ["-q", "-m", "reflink=1", "-b", "size=4096", "-s", "size=4096", "-L", "kata-pool", pool.xfsFile])
        }
        try pool.bringUp()
        try system("cannot create \(pool.imagesDirectory)") { () throws(SystemCallError) in try Files.makeDirectory(pool.imagesDirectory) }
        guard try system("cannot probe \(pool.imagesDirectory)", { () throws(SystemCallError) in try Reflink.isSupported(in: pool.imagesDirectory) }) else {
            throw StorageError(.unavailable, "\(pool.imagesDirectory) cannot reflink; use an XFS (reflink=1) or btrfs directory")
        }
        guard !native else { return pool }
        settings.emptyUsedBytes = try pool.dataSpace().usedBytes
        return ReflinkFilePool(directory: directory, settings: settings, logger: logger)
    }

    /// Opens an existing pool, mounting its XFS file again after a reboot.
    static func open(directory: String, settings: FilePoolSettings, logger: Logger) throws(StorageError) -> ReflinkFilePool {
        let pool = ReflinkFilePool(directory: directory, settings: settings, logger: logger)
        try pool.bringUp()
        return pool
    }

    private init(directory: String, settings: FilePoolSettings, logger: Logger) {
        self.directory = directory
        self.settings = settings
        self.logger = logger
        imagesDirectory = settings.layout == .native ? "\(directory)/images" : "\(directory)/xfs/images"
        let state = directory.hasSuffix("/pool") ? String(directory.dropLast(5)) : directory
        space = SpaceGuard(poolName: "the pool in \(state)", policy: settings.policy, canGrow: settings.canGrow, logger: logger)
    }

    /// Runs `body` holding the pool's lock, shared with every process using the pool.
    func whileLocked<R>(_ body: () throws(StorageError) -> R) throws(StorageError) -> R {
        try FileLock.withExclusive(lockFile, mapError: { StorageError($0, "cannot lock the pool \(directory)") }, body)
    }

    /// Mounts the XFS pool file unless it is mounted already (by this or another process).
    private func bringUp() throws(StorageError) {
        guard settings.layout == .xfsFile else { return }
        try whileLocked { () throws(StorageError) in
            try system("cannot mount the pool file \(xfsFile) at \(xfsMount)") { () throws(SystemCallError) in
                guard try !Mounts.isMountPoint(xfsMount) else { return }
                try Files.makeDirectory(xfsMount)
                let loop = try (LoopDevice.attachments().first(where: { $0.file == xfsFile })?.device).or { () throws(SystemCallError) in
                    try LoopDevice.attach(xfsFile, readOnly: false, directIO: true)
                }
                do throws(SystemCallError) {
                    try Mounts.mount(loop, at: xfsMount, type: "xfs", readOnly: false, options: [])
                } catch {
                    _ = try? LoopDevice.detach(loop)
                    throw error
                }
                logger.info("mounted XFS pool file", metadata: ["file": "\(xfsFile)", "device": "\(loop)", "at": "\(xfsMount)"])
            }
        }
    }

    /// Unmounts the XFS pool file and detaches its loop device (after every device is detached).
    func shutDown() throws(StorageError) {
        guard settings.layout == .xfsFile else { return }
        try whileLocked { () throws(StorageError) in
            try system("cannot take down the pool file \(xfsFile)") { () throws(SystemCallError) in
                let loop = try LoopDevice.attachments().first { $0.file == xfsFile }?.device
                // A device detached a moment ago is unbound at its last close, which may be another
                // process's look at it: its image keeps the pool's filesystem busy until then.
                _ = try LoopDevice.waitForRelease(ofFilesUnder: imagesDirectory + "/", limit: .seconds(10))
                try Mounts.unmount(xfsMount)
                if let loop { try LoopDevice.detach(loop) }
            }
        }
    }

    func imagePath(_ id: UInt32) -> String { "\(imagesDirectory)/dev-\(id).img" }

    func createDevice(_ id: UInt32, size: UInt64) throws(StorageError) {
        try guardFreeSpace()
        try system("cannot create device image \(imagePath(id))") { () throws(SystemCallError) in
            try Files.sizeFile(imagePath(id), to: size, creating: true)
        }
    }

    func snapshotDevice(_ id: UInt32, from origin: UInt32, originPath: String?) throws(StorageError) {
        // FICLONE flushes the origin file's dirty pages (direct-I/O loops leave none); a filesystem
        // still mounted on the origin is frozen around the clone so that the copy is consistent.
        try guardFreeSpace()
        let source = imagePath(origin)
        try system("cannot clone \(source) to \(imagePath(id))") { () throws(SystemCallError) in
            guard let originPath, try LoopDevice.backingFile(of: originPath) == source else {
                return try Reflink.clone(source, to: imagePath(id))
            }
            try FilesystemFreeze.whileFrozen(devicePath: originPath) { () throws(SystemCallError) in try Reflink.clone(source, to: imagePath(id)) }
        }
    }

    func grow(_ id: UInt32, to size: UInt64) throws(StorageError) {
        try system("cannot grow \(imagePath(id))") { () throws(SystemCallError) in try Files.sizeFile(imagePath(id), to: size, creating: false) }
    }

    func growAttached(_ id: UInt32, path: String, to size: UInt64) throws(StorageError) {
        try grow(id, to: size)
        try system("cannot make \(path) take the new size of \(imagePath(id))") { () throws(SystemCallError) in
            guard try LoopDevice.backingFile(of: path) == imagePath(id) else {
                throw SystemCallError(operation: "\(path) is not attached to \(imagePath(id))", errno: .noSuchDeviceOrAddress)
            }
            try LoopDevice.refreshCapacity(path)
        }
    }

    func activate(_ id: UInt32, size: UInt64, readOnly: Bool) throws(StorageError) -> String {
        try system("cannot attach \(imagePath(id))") { () throws(SystemCallError) in
            try LoopDevice.attach(imagePath(id), readOnly: readOnly, directIO: true)
        }
    }

    @discardableResult
    func deactivate(_ id: UInt32, path: String) throws(StorageError) -> Bool {
        // Only a loop device that really is ours: paths in the store can be stale after a reboot.
        // Looked at before the device is opened (an exclusive open of someone else's loop device
        // could fail their mount), and again, by `detach`, with it open.
        try system("cannot detach \(path)") { () throws(SystemCallError) -> Bool in
            guard try LoopDevice.backingFile(of: path) == imagePath(id) else { return false }
            return try LoopDevice.detach(path, backedBy: imagePath(id))
        }
    }

    func deleteDevice(_ id: UInt32) throws(StorageError) {
        let removed = try system("cannot delete device image \(imagePath(id))") { () throws(SystemCallError) in try Files.remove(imagePath(id)) }
        if removed { spaceFreed() }
    }


    func usage(of id: UInt32, comparedTo base: UInt32?) throws(StorageError) -> DeviceUsage {
        try system("cannot read the extents of \(imagePath(id))") { () throws(SystemCallError) -> DeviceUsage in
            ExtentComparison.usage(try Reflink.extents(imagePath(id)), comparedTo: try base.map { (b) throws(SystemCallError) in try Reflink.extents(imagePath(b)) })
        }
    }

    func attachedDevices() throws(StorageError) -> [UInt32: String] {
        var result: [UInt32: String] = [:]
        let prefix = "\(imagesDirectory)/dev-"
        for (device, file) in try system("cannot list loop devices", { () throws(SystemCallError) in try LoopDevice.attachments() })
        where file.hasPrefix(prefix) && file.hasSuffix(".img") {
            if let id = UInt32(file.dropFirst(prefix.count).dropLast(4)) { result[id] = device }
        }
        return result
    }

    func isAttached(_ id: UInt32, at path: String) throws(StorageError) -> Bool {
        try system("cannot read \(path)") { () throws(SystemCallError) -> Bool in
            guard try LoopDevice.backingFile(of: path) == imagePath(id) else { return false }
            return try !LoopDevice.isDetaching(path)
        }
    }

    func readBytes(of id: UInt32, offset: Int64, count: Int) throws(StorageError) -> [UInt8] {
        try system("cannot read \(imagePath(id))") { () throws(SystemCallError) -> [UInt8] in
            try FileDescriptor.withOpened(imagePath(id), .readOnly) { (fd) throws(SystemCallError) in try fd.read(count: count, at: offset) }
        }
    }

    func deviceIDs() throws(StorageError) -> Set<UInt32> {
        let entries = try system("cannot list \(imagesDirectory); is the pool filesystem mounted?") { () throws(SystemCallError) in
            try Files.directoryEntries(imagesDirectory)
        }
        var ids = Set<UInt32>()
        for (name, _) in entries where name.hasPrefix("dev-") && name.hasSuffix(".img") {
            if let id = UInt32(name.dropFirst(4).dropLast(4)) { ids.insert(id) }
        }
        return ids
    }

    func dataSpace() throws(StorageError) -> SpaceUsage {
        let space = try system("cannot read pool space") { () throws(SystemCallError) in try Files.space(imagesDirectory) }
        return SpaceUsage(usedBytes: space.totalBytes - space.freeBytes, totalBytes: space.totalBytes)
    }
}

import Glibc
import Logging

/// Thin devices as sparse image files: a snapshot is a reflink clone, a device is a loop attachment.
///
/// Images live in a directory whose filesystem can reflink. When the state directory's own
/// filesystem cannot (ext4), the pool keeps an XFS (`reflink=1`) file of its own, loop-attached
/// and mounted under the pool directory; it never falls back to copying.
public final class ReflinkFilePool: BlockBackend {
    /// How the pool gets a reflink-capable filesystem.
    public enum Layout: String, Sendable {
        /// Images sit directly in the pool directory (it is XFS or btrfs).
        case native
        /// Images sit in an XFS filesystem on a file in the pool directory.
        case xfsFile = "xfs-file"
    }

    public let directory: String
    public let layout: Layout
    let imagesDirectory: String
    let directIO: Bool
    private let logger: Logger

    public var kind: String { "file" }
    public var providesBlockDevices: Bool { true }

    private var xfsFile: String { "\(directory)/pool.xfs" }
    private var xfsMount: String { "\(directory)/xfs" }

    /// Sets up a new pool in `directory`: native when it can reflink, else an XFS file of `size` bytes.
    public static func create(directory: String, size: UInt64, logger: Logger) throws(StorageError) -> ReflinkFilePool {
        try makeDirectory(directory)
        let layout: Layout = Reflink.isSupported(in: directory) ? .native : .xfsFile
        let pool = ReflinkFilePool(directory: directory, layout: layout, logger: logger)
        if layout == .xfsFile {
            logger.info("pool directory cannot reflink; making an XFS pool file", metadata: ["file": "\(pool.xfsFile)", "bytes": "\(size)"])
            try sizeFile(pool.xfsFile, to: size, creating: true)
            try ExternalTool.run("mkfs.xfs", ["-q", "-m", "reflink=1", "-b", "size=4096", "-s", "size=4096", "-L", "kata-pool", pool.xfsFile])
        }
        try pool.bringUp()
        try makeDirectory(pool.imagesDirectory)
        guard Reflink.isSupported(in: pool.imagesDirectory) else {
            throw StorageError(.unavailable, "\(pool.imagesDirectory) cannot reflink; use an XFS (reflink=1) or btrfs directory")
        }
        return pool
    }

    /// Opens an existing pool, re-mounting its XFS file after a reboot.
    public static func open(directory: String, layout: Layout, logger: Logger) throws(StorageError) -> ReflinkFilePool {
        let pool = ReflinkFilePool(directory: directory, layout: layout, logger: logger)
        try pool.bringUp()
        return pool
    }

    private init(directory: String, layout: Layout, logger: Logger) {
        self.directory = directory
        self.layout = layout
        self.logger = logger
        self.directIO = true
        imagesDirectory = layout == .native ? "\(directory)/images" : "\(directory)/xfs/images"
    }

    /// Mounts the XFS pool file if it is not mounted yet.
    private func bringUp() throws(StorageError) {
        guard layout == .xfsFile, !Mounter.isMountPoint(xfsMount) else { return }
        try Self.makeDirectory(xfsMount)
        let loop: String
        if let attached = LoopDevice.attachments().first(where: { $0.file == xfsFile })?.device {
            loop = attached
        } else {
            loop = try LoopDevice.attach(xfsFile, readOnly: false, directIO: directIO)
        }
        do throws(StorageError) {
            try Mounter.mount(loop, at: xfsMount, type: "xfs", readOnly: false, options: [])
        } catch {
            try? LoopDevice.detach(loop)
            throw error
        }
        logger.info("mounted XFS pool file", metadata: ["file": "\(xfsFile)", "device": "\(loop)", "at": "\(xfsMount)"])
    }

    /// Unmounts the XFS pool file and detaches its loop device (after every device is detached).
    public func shutDown() throws(StorageError) {
        guard layout == .xfsFile else { return }
        let loop = LoopDevice.attachments().first { $0.file == xfsFile }?.device
        try Mounter.unmount(xfsMount)
        if let loop { try LoopDevice.detach(loop) }
    }

    func imagePath(_ id: UInt32) -> String { "\(imagesDirectory)/dev-\(id).img" }

    public func createDevice(_ id: UInt32, size: UInt64) throws(StorageError) {
        try Self.sizeFile(imagePath(id), to: size, creating: true)
    }

    /// Makes a new sparse file of `size` bytes, or grows an existing one to it (never shrinks).
    static func sizeFile(_ path: String, to size: UInt64, creating: Bool) throws(StorageError) {
        try FileDescriptor.withOpened(path, creating ? O_RDWR | O_CREAT | O_EXCL : O_RDWR) { (fd) throws(StorageError) in
            var st = stat()
            try systemCall("fstat(\(path))", "cannot stat \(path)") { fstat(fd.raw, &st) }
            guard UInt64(st.st_size) < size else { return }
            try systemCall("ftruncate(\(path))", "cannot size \(path) to \(size) bytes") { ftruncate(fd.raw, off_t(size)) }
        }
    }

    public func snapshotDevice(_ id: UInt32, from origin: UInt32, originPath: String?) throws(StorageError) {
        // FICLONE flushes the origin file's dirty pages (direct-I/O loops leave none); a filesystem
        // still mounted on the origin is frozen around the clone so that the copy is consistent.
        let source = imagePath(origin)
        guard let originPath, LoopDevice.backingFile(of: originPath) == source else {
            return try Reflink.clone(source, to: imagePath(id))
        }
        try FilesystemFreeze.whileFrozen(devicePath: originPath) { () throws(StorageError) in
            try Reflink.clone(source, to: imagePath(id))
        }
    }

    public func grow(_ id: UInt32, to size: UInt64) throws(StorageError) {
        try Self.sizeFile(imagePath(id), to: size, creating: false)
    }

    public func activate(_ id: UInt32, size: UInt64, readOnly: Bool) throws(StorageError) -> String {
        try LoopDevice.attach(imagePath(id), readOnly: readOnly, directIO: directIO)
    }

    @discardableResult
    public func deactivate(_ id: UInt32, path: String) throws(StorageError) -> Bool {
        // Only detach a loop device that really is ours: paths in the store can be stale after a reboot.
        guard LoopDevice.backingFile(of: path) == imagePath(id) else { return false }
        return try LoopDevice.detach(path)
    }

    public func deleteDevice(_ id: UInt32) throws(StorageError) {
        let path = imagePath(id)
        do throws(SystemCallError) {
            try syscall("unlink(\(path))") { unlink(path) }
        } catch where error.errno == ENOENT {
            return
        } catch {
            throw error.storageError("cannot delete device image \(path)")
        }
    }

    public func usage(of id: UInt32, comparedTo base: UInt32?) throws(StorageError) -> DeviceUsage {
        try Reflink.usage(imagePath(id), comparedTo: base.map(imagePath))
    }

    public func attachedDevices() throws(StorageError) -> [UInt32: String] {
        var result: [UInt32: String] = [:]
        let prefix = "\(imagesDirectory)/dev-"
        for (device, file) in LoopDevice.attachments() where file.hasPrefix(prefix) && file.hasSuffix(".img") {
            if let id = UInt32(file.dropFirst(prefix.count).dropLast(4)) { result[id] = device }
        }
        return result
    }

    public func readBytes(of id: UInt32, offset: Int64, count: Int) throws(StorageError) -> [UInt8] {
        try FileDescriptor.read(imagePath(id), offset: offset, count: count)
    }

    public func deviceIDs() throws(StorageError) -> Set<UInt32> {
        guard let entries = directoryEntries(imagesDirectory) else {
            throw StorageError(.unavailable, "cannot list \(imagesDirectory); is the pool filesystem mounted? (`snapctl pool status`)")
        }
        var ids = Set<UInt32>()
        for (name, _) in entries {
            if name.hasPrefix("dev-"), name.hasSuffix(".img"), let id = UInt32(name.dropFirst(4).dropLast(4)) {
                ids.insert(id)
            }
        }
        return ids
    }

    public func dataSpace() throws(StorageError) -> SpaceUsage {
        var fs = statvfs()
        try systemCall("statvfs(\(imagesDirectory))", "cannot read pool space") { statvfs(imagesDirectory, &fs) }
        let total = Int64(fs.f_blocks) * Int64(fs.f_frsize)
        return SpaceUsage(usedBytes: total - Int64(fs.f_bfree) * Int64(fs.f_frsize), totalBytes: total)
    }

    static func makeDirectory(_ path: String) throws(StorageError) {
        var partial = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            partial += "/\(component)"
            do throws(SystemCallError) {
                try syscall("mkdir(\(partial))") { mkdir(partial, 0o700) }
            } catch where error.errno == EEXIST {
                continue
            } catch {
                throw error.storageError("cannot create directory \(partial)")
            }
        }
    }
}

import CLinux
import Glibc

/// Loop devices through the kernel's loop ioctls (no `losetup`).
enum LoopDevice {
    static let major: UInt32 = 7
    /// Logical block size of every loop device we attach: the same whatever the backing stack,
    /// so filesystems made on one device mount on its clones.
    static let blockSize: UInt32 = 4096

    /// Attaches `file` to a free loop device and returns its path.
    static func attach(_ file: String, readOnly: Bool, directIO: Bool) throws(StorageError) -> String {
        try FileDescriptor.withOpened("/dev/loop-control", O_RDWR) { (control) throws(StorageError) -> String in
            try FileDescriptor.withOpened(file, readOnly ? O_RDONLY : O_RDWR) { (backing) throws(StorageError) -> String in
                var flags: UInt32 = 0
                if readOnly { flags |= KBS_LO_FLAGS_READ_ONLY }
                if directIO { flags |= KBS_LO_FLAGS_DIRECT_IO }
                // Another process may take the free device between GET_FREE and CONFIGURE: retry.
                for _ in 0..<64 {
                    let number = try systemCall("ioctl(LOOP_CTL_GET_FREE)", "no free loop device; is the loop module loaded?") {
                        kbs_loop_ctl_get_free(control.raw)
                    }
                    let path = "/dev/loop\(number)"
                    try ensureNode(path, minor: UInt32(number))
                    let configured = try FileDescriptor.withOpened(path, readOnly ? O_RDONLY : O_RDWR) { (loop) throws(StorageError) -> Bool in
                        do throws(SystemCallError) {
                            try syscall("ioctl(\(path), LOOP_CONFIGURE)") {
                                kbs_loop_configure(loop.raw, backing.raw, flags, blockSize, file)
                            }
                            return true
                        } catch where error.errno == EBUSY {
                            return false
                        } catch {
                            throw error.storageError("cannot attach \(file) to \(path)")
                        }
                    }
                    if configured { return path }
                }
                throw StorageError(.unavailable, "could not claim a free loop device after 64 tries; too many concurrent attaches")
            }
        }
    }

    /// Detaches the loop device at `path`. While a filesystem on it is still mounted, the kernel
    /// detaches it when the last user lets go (deferred, like device-mapper's deferred remove);
    /// the filesystem is frozen and thawed first so that everything written so far is in the file.
    @discardableResult
    static func detach(_ path: String) throws(StorageError) -> Bool {
        var deferred = false
        var fd: Int32
        do throws(SystemCallError) {
            fd = try syscall("open(\(path), O_EXCL)") { open(path, O_RDONLY | O_EXCL | O_CLOEXEC) }
        } catch where error.errno == ENOENT || error.errno == ENXIO {
            return false
        } catch where error.errno == EBUSY {
            try FilesystemFreeze.flush(devicePath: path)
            deferred = true
            fd = try systemCall("open(\(path))", "cannot open \(path) to detach it") { open(path, O_RDONLY | O_CLOEXEC) }
        } catch {
            throw error.storageError("cannot open \(path) to detach it")
        }
        defer { close(fd) }
        do throws(SystemCallError) {
            try syscall("ioctl(\(path), LOOP_CLR_FD)") { kbs_loop_clear(fd) }
        } catch where error.errno == ENXIO {
            return false  // already detached
        } catch {
            throw error.storageError("cannot detach \(path)")
        }
        return deferred
    }

    /// Whether the loop device at `path` is set to detach on its last close.
    static func isDetaching(_ path: String) -> Bool {
        readSmallFile("/sys/block/\(path.dropFirst(5))/loop/autoclear")?.hasPrefix("1") == true
    }

    /// The file attached to the loop device at `path`, or nil when it is detached or not a loop device.
    static func backingFile(of path: String) -> String? {
        guard path.hasPrefix("/dev/loop"), var file = readSmallFile("/sys/block/\(path.dropFirst(5))/loop/backing_file") else {
            return nil
        }
        while file.last == "\n" { file.removeLast() }
        if file.hasSuffix(" (deleted)") { file.removeLast(" (deleted)".count) }
        return file
    }

    /// Every attached loop device and the file behind it, read from sysfs.
    static func attachments() -> [(device: String, file: String)] {
        var result: [(String, String)] = []
        for (name, _) in directoryEntries("/sys/block") ?? [] {
            guard name.hasPrefix("loop") else { continue }
            let device = "/dev/\(name)"
            if let file = backingFile(of: device), !isDetaching(device) { result.append((device, file)) }
        }
        return result
    }

    /// Creates `/dev/loopN` when /dev is not devtmpfs and the node is missing.
    private static func ensureNode(_ path: String, minor: UInt32) throws(StorageError) {
        var st = stat()
        if stat(path, &st) == 0 { return }
        do throws(SystemCallError) {
            try syscall("mknod(\(path))") { mknod(path, S_IFBLK | 0o660, kbs_makedev(major, minor)) }
        } catch where error.errno == EEXIST {
            return
        } catch {
            throw error.storageError("cannot create \(path)")
        }
    }
}

/// Reads a small text file (sysfs, procfs) whole; nil if it cannot be read.
func readSmallFile(_ path: String) -> String? {
    try? FileDescriptor.withOpened(path, O_RDONLY) { (fd) throws(StorageError) -> String in
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = try systemCall("read(\(path))", "cannot read \(path)") {
                chunk.withUnsafeMutableBytes { read(fd.raw, $0.baseAddress, $0.count) }
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

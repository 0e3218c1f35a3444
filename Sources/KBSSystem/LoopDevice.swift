import CLinux
import Glibc

/// Loop devices through the kernel's loop ioctls (no `losetup`).
public enum LoopDevice {
    static let major: UInt32 = 7
    /// Logical block size of every loop device attached here: the same whatever the backing
    /// stack, so filesystems made on one device mount on its clones.
    public static let blockSize: UInt32 = 4096

    /// Attaches `file` to a free loop device and returns its path.
    public static func attach(_ file: String, readOnly: Bool, directIO: Bool) throws(SystemCallError) -> String {
        try FileDescriptor.withOpened("/dev/loop-control", .readWrite) { (control) throws(SystemCallError) -> String in
            try FileDescriptor.withOpened(file, readOnly ? .readOnly : .readWrite) { (backing) throws(SystemCallError) -> String in
                var flags: UInt32 = 0
                if readOnly { flags |= KBS_LO_FLAGS_READ_ONLY }
                if directIO { flags |= KBS_LO_FLAGS_DIRECT_IO }
                // Another process may take the free device between GET_FREE and CONFIGURE: retry.
                for _ in 0..<64 {
                    let number = try syscall("ioctl(LOOP_CTL_GET_FREE)") { kbs_loop_ctl_get_free(control.raw) }
                    let path = "/dev/loop\(number)"
                    try ensureNode(path, minor: UInt32(number))
                    let configured = try FileDescriptor.withOpened(path, readOnly ? .readOnly : .readWrite) {
                        (loop) throws(SystemCallError) -> Bool in
                        do throws(SystemCallError) {
                            try syscall("ioctl(\(path), LOOP_CONFIGURE, \(file))") {
                                kbs_loop_configure(loop.raw, backing.raw, flags, blockSize, file)
                            }
                            return true
                        } catch where error.errno == .busy {
                            return false
                        }
                    }
                    if configured { return path }
                }
                throw SystemCallError(operation: "attach \(file): no free loop device after 64 tries", errno: .busy)
            }
        }
    }

    /// Detaches the loop device at `path`. While a filesystem on it is still mounted, the kernel
    /// detaches it when the last user lets go (like device-mapper's deferred remove), and the
    /// filesystem is frozen and thawed first so that everything written so far is in the file.
    /// Returns true in that deferred case.
    ///
    /// With `backedBy`, only while the device is bound to that file, checked with the device open:
    /// an open loop device is neither released nor rebound, so the check cannot go stale before the
    /// detach (a device checked before it was opened could have been freed at its last close and
    /// taken by another file meanwhile).
    ///
    /// LOOP_CLR_FD only marks a device (recent kernels always; older ones when it is open
    /// elsewhere): the kernel unbinds it at its last close. That is this call's own close unless
    /// another process had the device open at that moment (a look at it, a probe); then it goes at
    /// theirs, and this returns true as well.
    @discardableResult
    public static func detach(_ path: String, backedBy file: String? = nil) throws(SystemCallError) -> Bool {
        func bound() throws(SystemCallError) -> Bool { try file.map { (f) throws(SystemCallError) in try backingFile(of: path) == f } ?? true }
        do throws(SystemCallError) {
            let cleared = try FileDescriptor.withOpened(path, FileDescriptor.Access.readOnly.exclusive) { (fd) throws(SystemCallError) -> String? in
                guard try bound(), let backing = try backingFile(of: path) else { return nil }
                try clear(fd, path)
                return backing
            }
            guard let cleared else { return false }
            return try backingFile(of: path) == cleared
        } catch where error.errno == .noSuchFile || error.errno == .noSuchDeviceOrAddress {
            return false
        } catch where error.errno == .busy {
            // Open elsewhere (mounted): flushed now, detached by the kernel at the last close.
            return try FileDescriptor.withOpened(path, .readOnly) { (fd) throws(SystemCallError) -> Bool in
                guard try bound() else { return false }
                try FilesystemFreeze.flush(devicePath: path)
                try clear(fd, path)
                return true
            }
        }
    }

    /// Makes the loop device at `path` as long as its backing file now is (after the file grew),
    /// while it stays attached and in use.
    public static func refreshCapacity(_ path: String) throws(SystemCallError) {
        try FileDescriptor.withOpened(path, .readOnly) { (fd) throws(SystemCallError) in
            let raw = fd.raw
            try syscall("ioctl(\(path), LOOP_SET_CAPACITY)") { kbs_loop_set_capacity(raw) }
        }
    }

    private static func clear(_ fd: borrowing FileDescriptor, _ path: String) throws(SystemCallError) {
        let raw = fd.raw
        do throws(SystemCallError) {
            try syscall("ioctl(\(path), LOOP_CLR_FD)") { kbs_loop_clear(raw) }
        } catch where error.errno == .noSuchDeviceOrAddress {
            return  // already detached
        }
    }

    /// Whether the loop device at `path` is set to detach at its last close.
    public static func isDetaching(_ path: String) throws(SystemCallError) -> Bool {
        try Files.readIfPresent("/sys/block/\(path.dropFirst(5))/loop/autoclear")?.hasPrefix("1") == true
    }

    /// The file behind the loop device at `path`, or nil when it is detached or not a loop device.
    public static func backingFile(of path: String) throws(SystemCallError) -> String? {
        guard path.hasPrefix("/dev/loop"), var file = try Files.readIfPresent("/sys/block/\(path.dropFirst(5))/loop/backing_file") else {
            return nil
        }
        while file.last == "\n" { file.removeLast() }
        if file.hasSuffix(" (deleted)") { file.removeLast(" (deleted)".count) }
        return file
    }

    /// Every attached loop device that is not on its way out, and the file behind it.
    public static func attachments() throws(SystemCallError) -> [(device: String, file: String)] {
        var result: [(device: String, file: String)] = []
        for binding in try bindings() where try !isDetaching(binding.device) { result.append(binding) }
        return result
    }

    /// Every loop device bound to a file, those on their way out included.
    public static func bindings() throws(SystemCallError) -> [(device: String, file: String)] {
        var result: [(String, String)] = []
        for entry in try Files.directoryEntries("/sys/block") where entry.name.hasPrefix("loop") {
            let device = "/dev/\(entry.name)"
            if let file = try backingFile(of: device) { result.append((device, file)) }
        }
        return result
    }

    /// Waits up to `limit` for loop devices bound to files under `directory` (detached ones that
    /// another user still had open) to let go; returns those still bound.
    public static func waitForRelease(ofFilesUnder directory: String, limit: Duration) throws(SystemCallError) -> [String] {
        let deadline = ContinuousClock.now + limit
        while true {
            let held = try bindings().filter { $0.file.hasPrefix(directory) }.map(\.device)
            if held.isEmpty || ContinuousClock.now >= deadline { return held }
            usleep(20_000)
        }
    }

    /// Creates `/dev/loopN` when /dev is not devtmpfs and the node is missing.
    private static func ensureNode(_ path: String, minor: UInt32) throws(SystemCallError) {
        guard try !Files.exists(path) else { return }
        do throws(SystemCallError) {
            try syscall("mknod(\(path))") { mknod(path, S_IFBLK | 0o660, kbs_makedev(major, minor)) }
        } catch where error.errno == .exists {
            return
        }
    }
}

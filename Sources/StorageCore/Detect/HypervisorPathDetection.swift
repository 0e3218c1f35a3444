import KBSDeviceMapper
import KBSSystem

extension HypervisorPath {
    /// What Kata does with `path`, a container's rootfs as CRI-O hands it (the OCI `root.path`):
    /// it walks up from the path while the device stays the same to find the mount point, takes
    /// that mount's device, and hot-plugs it when it is a block device (3.3.0 and later: any; before,
    /// device-mapper only). `blockDeviceUseDisabled` is Kata's `disable_block_device_use`.
    public static func detect(rootfsPath path: String, blockDeviceUseDisabled: Bool = false) throws(StorageError) -> HypervisorPath {
        let absolute = try system("cannot resolve \(path)") { () throws(SystemCallError) in try Files.canonicalPath(path) }
        let status = try system("cannot look at \(path)") { () throws(SystemCallError) in try Files.status(absolute) }
        guard let status else { throw StorageError(.notFound, "\(path) does not exist") }
        var mountPoint = absolute
        while mountPoint != "/" {
            let parent = parentDirectory(of: mountPoint)
            let up = try system("cannot look at \(parent)") { () throws(SystemCallError) in try Files.status(parent, followingLinks: false) }
            guard up?.device == status.device else { break }
            mountPoint = parent
        }
        let table = try system("cannot read the mount table") { () throws(SystemCallError) in try Mounts.table() }
        // The last mount at that point is the one on top.
        let entry = table.last { $0.mountPoint == mountPoint }
        var result = HypervisorPath(undecided: absolute, filesystem: entry?.type, mountPoint: mountPoint)
        guard let entry else {
            result.reasons.append("no mount at \(mountPoint) in the mount table")
            return result
        }
        if entry.type == "overlay" {
            result.reasons.append("an overlay mount (layers of host directories): Kata shares the directory with the guest")
            return result
        }
        guard let device = try blockDevice(number: entry.device) else {
            result.reasons.append("\(entry.type) at \(mountPoint) is not on a block device")
            return result
        }
        result.describe(device)
        if entry.root != "/" {
            result.reasons.append("a bind mount of \(entry.root) inside the filesystem of \(device.path): the guest would get the whole filesystem")
        }
        if mountPoint != absolute {
            result.reasons.append("\(absolute) is a subdirectory of the mount at \(mountPoint): the guest would get the whole filesystem")
        }
        result.decide(blockDeviceUseDisabled: blockDeviceUseDisabled)
        return result
    }

    /// What Kata does with the mounts containerd hands the shim for a container's rootfs: a single
    /// mount whose source is a block device is hot-plugged as it is, without a host mount; anything
    /// else (an overlay of layers, a bind mount, several mounts) is mounted on the host and shared.
    public static func detect(mounts: [Mount], blockDeviceUseDisabled: Bool = false) throws(StorageError) -> HypervisorPath {
        var result = HypervisorPath(undecided: "mounts")
        guard mounts.count == 1, let mount = mounts.first else {
            result.reasons.append(mounts.isEmpty ? "no mounts" : "\(mounts.count) mounts (layers to combine on the host): Kata shares the result")
            return result
        }
        result.filesystem = mount.type
        let binds: Set = ["bind", "rbind"]
        if mount.type == "overlay" || binds.contains(mount.type) || mount.options.contains(where: binds.contains) {
            result.reasons.append("\(mount.type == "overlay" ? "an overlay" : "a bind") mount of host directories: Kata shares the directory")
            return result
        }
        let status = try system("cannot look at \(mount.source)") { () throws(SystemCallError) in try Files.status(mount.source) }
        guard let number = status?.deviceNumber, let device = try blockDevice(number: number) else {
            result.reasons.append("the source \(mount.source) is not a block device")
            return result
        }
        result.describe(device)
        result.decide(blockDeviceUseDisabled: blockDeviceUseDisabled)
        return result
    }

    /// Nothing found yet: shared until `decide` says otherwise.
    private init(undecided subject: String, filesystem: String? = nil, mountPoint: String? = nil) {
        self.init(subject: subject, transport: .sharedFilesystem, device: nil, deviceNumber: nil, deviceKind: nil,
                  filesystem: filesystem, mountPoint: mountPoint, blockBefore3_3: false, reasons: [])
    }

    private mutating func describe(_ device: BlockDevice) {
        self.device = device.path
        deviceNumber = device.number
        deviceKind = device.kind
    }

    private mutating func decide(blockDeviceUseDisabled: Bool) {
        if blockDeviceUseDisabled {
            reasons.append("disable_block_device_use = true in Kata's configuration")
        }
        transport = reasons.isEmpty ? .block : .sharedFilesystem
        blockBefore3_3 = transport == .block && (deviceKind == .dmThin || deviceKind == .deviceMapper)
    }

    private static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }

    private struct BlockDevice {
        var path: String
        var number: String
        var kind: DeviceKind
    }

    /// The block device with "major:minor" `number`, as sysfs describes it; nil when there is none
    /// (the anonymous device numbers of tmpfs, overlay, 9p and the like).
    private static func blockDevice(number: String) throws(StorageError) -> BlockDevice? {
        let sys = "/sys/dev/block/\(number)"
        return try system("cannot read \(sys)") { () throws(SystemCallError) -> BlockDevice? in
            guard let uevent = try Files.readIfPresent("\(sys)/uevent") else { return nil }
            let name = uevent.split(separator: "\n").first { $0.hasPrefix("DEVNAME=") }.map { String($0.dropFirst(8)) } ?? ""
            if let dmName = try Files.readIfPresent("\(sys)/dm/name")?.trimmingCharacters(in: "\n") {
                return BlockDevice(path: DeviceMapper.path(of: dmName), number: number, kind: thinTarget(dmName) ? .dmThin : .deviceMapper)
            }
            let kind: DeviceKind = try Files.exists("\(sys)/loop") ? .loop : .disk
            return BlockDevice(path: "/dev/\(name)", number: number, kind: kind)
        }
    }

    /// Whether the device-mapper device `name` is a thin device (its table's target is `thin`). A
    /// table that cannot be read (no device-mapper control here) leaves it a device-mapper device.
    private static func thinTarget(_ name: String) -> Bool {
        do throws(DeviceMapperError) {
            return try DeviceMapper.table(name).contains { $0.type == "thin" }
        } catch {
            return false
        }
    }
}

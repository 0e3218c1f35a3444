import Foundation
import KBSSystem

/// The pool's volumes: writable thin devices with a filesystem in a namespace of their own, which
/// no frontend sees (containerd's and containers/storage's garbage collection never meet them).
/// They are snapshots underneath, so they are attached again after a reboot like any other, and
/// count in `PoolStatus.snapshotsByNamespace` under `VolumeSet.namespace`.
public struct VolumeSet: Sendable {
    /// The store namespace volumes live in; refused to frontends (`checkFrontendNamespace`).
    public static let namespace = "volumes"
    /// Label of a volume handed to Kata: the pod volume path.
    static let kataPathLabel = "kata-block.volume/kata-path"
    /// Label of a volume made by `snapshot`: the volume it copies.
    static let sourceLabel = "kata-block.volume/source"
    /// Smallest volume: what mkfs needs for a filesystem with a journal (xfs: its own minimum).
    static func minimumSize(_ filesystem: FilesystemType) -> UInt64 { filesystem == .xfs ? 300 << 20 : 16 << 20 }

    public let engine: StorageEngine
    /// Where Kata's direct-volume descriptions are written.
    public let kata: KataDirectVolume

    public init(engine: StorageEngine, kata: KataDirectVolume = KataDirectVolume()) {
        self.engine = engine
        self.kata = kata
    }

    private var snapshots: SnapshotNamespace { engine.snapshots(in: Self.namespace) }

    /// Refuses the volumes' namespace to a frontend (containerd's or containers/storage's).
    public static func checkFrontendNamespace(_ name: String) throws(StorageError) {
        guard name != namespace else {
            throw StorageError(.invalidArgument, "namespace \"\(namespace)\" holds the pool's volumes and is not available to a frontend", remedy: .chooseAnother)
        }
    }

    /// Makes an empty volume of `size` (rounded up to whole MiB) with `filesystem` (the pool's by
    /// default). With the pool's filesystem and at least the pool's device size it is a clone of
    /// the pool's empty base device; otherwise a new device, formatted.
    public func create(_ name: String, size: UInt64, filesystem: FilesystemType? = nil, labels: [String: String] = [:]) async throws(StorageError) -> Volume {
        try Self.validate(name)
        try Self.checkOwnLabels(labels)
        let pool = engine.pool
        let filesystem = filesystem ?? pool.filesystem
        let size = (size + (1 << 20) - 1) / (1 << 20) * (1 << 20)
        guard size >= Self.minimumSize(filesystem) else {
            throw StorageError(.invalidArgument, "a volume with \(filesystem.rawValue) needs at least \(ByteCount.format(Int64(Self.minimumSize(filesystem))))")
        }
        try refuseExisting(name)
        let formatting = filesystem != pool.filesystem || size < pool.record.defaultDeviceSize ? filesystem : nil
        _ = try await engine.changing("volume_create") { (pool) throws(StorageError) in
            try pool.createSnapshot(name, in: Self.namespace, kind: .active, parent: nil, labels: labels, size: size, formatting: formatting)
        }
        return try inspect(name)
    }

    /// Every volume, in creation order.
    public func list() throws(StorageError) -> [Volume] {
        try snapshots.list().map { (info) throws(StorageError) in try volume(info) }
    }

    /// The volume `name`.
    public func inspect(_ name: String) throws(StorageError) -> Volume {
        try Self.validate(name)
        do throws(StorageError) {
            return try volume(try snapshots.stat(name))
        } catch where error.code == .notFound {
            throw StorageError(.notFound, "volume \(StorageError.quoted(name)) does not exist; snapctl volume ls lists them")
        }
    }

    /// Bytes the volume holds of its own (not shared with the volume it was copied from).
    public func usage(_ name: String) async throws(StorageError) -> DeviceUsage {
        try Self.validate(name)
        return try await snapshots.deviceUsage(name)
    }

    /// Makes `name` a copy-on-write copy of the volume `source`, in time independent of its size.
    /// A source in use by a guest is copied as a power cut would leave it (crash-consistent): for
    /// an application-consistent copy, freeze its filesystem in the guest (`fsfreeze`) around this.
    public func snapshot(_ source: String, as name: String, labels: [String: String] = [:]) async throws(StorageError) -> Volume {
        try Self.validate(source)
        try Self.validate(name)
        try Self.checkOwnLabels(labels)
        _ = try inspect(source)
        try refuseExisting(name)
        _ = try await snapshots.clone(name, from: source, labels: labels.merging([Self.sourceLabel: source]) { $1 })
        return try inspect(name)
    }

    /// Grows the volume's device to `size` while it stays attached, and its filesystem: online
    /// where it is mounted on this host, on a mount of its own when nothing uses it. A volume
    /// handed to Kata, or open by a process (a hypervisor), has only its device grown: the guest
    /// grows the filesystem (`kata-runtime direct-volume resize`), or a later resize here does it
    /// once the device is released.
    public func resize(_ name: String, to size: UInt64) async throws(StorageError) -> ResizeOutcome {
        let volume = try inspect(name)
        let size = (size + (1 << 20) - 1) / (1 << 20) * (1 << 20)
        if size < volume.sizeBytes {
            throw StorageError(.invalidArgument, "volume \(StorageError.quoted(name)) is \(ByteCount.format(Int64(volume.sizeBytes))); volumes only grow (a filesystem cannot give back space its data may be in): give a size of at least that")
        }
        let growth: FilesystemGrowth = volume.kataVolumePath == nil ? .engine : .deviceOnly
        var outcome = try await engine.changing("volume_resize") { (pool) throws(StorageError) in
            try pool.resize(name, in: Self.namespace, to: size, growth: growth)
        }
        if let path = volume.kataVolumePath, !outcome.filesystemGrown {
            outcome.detail = "handed to Kata at \(path): the guest grows the filesystem (kata-runtime direct-volume resize --volume-path \(path) --size \(outcome.sizeBytes))"
        }
        return outcome
    }

    /// Removes the volume and its device. Refused while it is handed to Kata, mounted, open by a
    /// process, or copied by another volume that still shares its blocks (copies are independent
    /// volumes: removing the source is fine).
    public func remove(_ name: String) async throws(StorageError) {
        let volume = try inspect(name)
        if let path = volume.kataVolumePath {
            throw StorageError(.busy, "volume \(StorageError.quoted(name)) is handed to Kata at \(path); kata-detach it when its pod is gone", remedy: .release)
        }
        try refuseInUse(volume)
        try await snapshots.remove(name)
    }

    /// Hands the volume to Kata as the pod volume at `volumePath`: attaches its device and writes
    /// Kata's `mountInfo.json` for that path, so that a container's volume at that path is given
    /// to the guest as this block device. Again for the same path rewrites the description (the
    /// device path after a reboot).
    @discardableResult
    public func kataAttach(_ name: String, volumePath: String) async throws(StorageError) -> KataDirectVolume.MountInfo {
        let path = try Self.validateVolumePath(volumePath)
        let volume = try inspect(name)
        if let current = volume.kataVolumePath, current != path {
            throw StorageError(.failedPrecondition, "volume \(StorageError.quoted(name)) is handed to Kata at \(current) already; kata-detach it first")
        }
        if let other = try list().first(where: { $0.kataVolumePath == path && $0.name != name }) {
            throw StorageError(.alreadyExists, "\(path) is volume \(StorageError.quoted(other.name))'s already", remedy: .chooseAnother)
        }
        let mounts = try await snapshots.mounts(name)
        guard let mount = mounts.first else { throw StorageError.inconsistent("volume \(StorageError.quoted(name)) has no mount") }
        if let existing = try kata.read(path), existing.device != mount.source, volume.kataVolumePath == nil {
            throw StorageError(.alreadyExists, "\(kata.directory(for: path)) already describes \(existing.device) for \(path), not made by this pool; remove it if nothing uses it", remedy: .chooseAnother)
        }
        if volume.kataVolumePath == nil { try await setKataPath(name, path) }
        let info = KataDirectVolume.MountInfo(volumeType: "block", device: mount.source, fsType: mount.type, metadata: [:],
                                              options: mount.options.filter { $0 != "ro" })
        try kata.write(info, at: path)
        engine.pool.logger.info("volume handed to Kata", metadata: ["volume": "\(name)", "volumePath": "\(path)", "device": "\(mount.source)"])
        return info
    }

    /// Takes the volume back from Kata: removes the description (when it still names this
    /// volume's device) and the record of the path. The device stays attached.
    public func kataDetach(_ name: String) async throws(StorageError) {
        let volume = try inspect(name)
        guard let path = volume.kataVolumePath else {
            throw StorageError(.failedPrecondition, "volume \(StorageError.quoted(name)) is not handed to Kata")
        }
        if let existing = try kata.read(path), let device = volume.device, existing.device != device {
            engine.pool.logger.warning("the Kata description names another device; left in place",
                                       metadata: ["volumePath": "\(path)", "device": "\(existing.device)", "volume": "\(name)"])
        } else {
            try kata.remove(path)
        }
        try await setKataPath(name, nil)
    }

    /// Writes the Kata descriptions of every volume handed to Kata again (after a reboot, where
    /// /run was emptied and devices were attached at new paths). Returns how many.
    @discardableResult
    public func refreshKataAttachments() async throws(StorageError) -> Int {
        var count = 0
        for volume in try list() {
            guard let path = volume.kataVolumePath else { continue }
            try await kataAttach(volume.name, volumePath: path)
            count += 1
        }
        return count
    }

    // MARK: details

    private func volume(_ info: SnapshotInfo) throws(StorageError) -> Volume {
        let details = try snapshots.inspect(info.name)
        guard let device = details.device else { throw StorageError.inconsistent("volume \(StorageError.quoted(info.name)) has no device record") }
        return Volume(name: info.name, sizeBytes: device.sizeBytes, filesystem: device.filesystem, device: device.path, state: device.state,
                      kataVolumePath: info.labels[Self.kataPathLabel], source: info.labels[Self.sourceLabel], created: info.created,
                      labels: info.labels.filter { !$0.key.hasPrefix("kata-block.volume/") })
    }

    private func refuseExisting(_ name: String) throws(StorageError) {
        do throws(StorageError) {
            _ = try snapshots.stat(name)
        } catch where error.code == .notFound {
            return
        }
        throw StorageError(.alreadyExists, "volume \(StorageError.quoted(name)) already exists", remedy: .chooseAnother)
    }

    private func setKataPath(_ name: String, _ path: String?) async throws(StorageError) {
        let info = SnapshotInfo(name: name, labels: path.map { [Self.kataPathLabel: $0] } ?? [:])
        _ = try await snapshots.update(info, fieldPaths: ["labels.\(Self.kataPathLabel)"])
    }

    /// Refuses a volume whose device is mounted (by anyone but the engine) or open by a process.
    private func refuseInUse(_ volume: Volume) throws(StorageError) {
        guard let device = volume.device else { return }
        let (mounts, holders) = try system("cannot tell whether \(device) is in use") { () throws(SystemCallError) in
            (try Mounts.mountPoints(ofDevice: device), try DeviceHolders.holders(of: device))
        }
        var users = mounts.map { "mounted at \($0)" }
        users += holders.map { "open by \($0.command) (pid \($0.pid))" }
        guard users.isEmpty else {
            throw StorageError(.busy, "volume \(StorageError.quoted(volume.name)) is in use: \(device) is \(users.joined(separator: ", "))", remedy: .release)
        }
    }

    static func validate(_ name: String) throws(StorageError) {
        let allowed = name.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D || c == 0x2E || c == 0x5F
        }
        guard !name.isEmpty, name.utf8.count <= 128, allowed, name.first != ".", name.first != "-" else {
            throw StorageError(.invalidArgument, "volume name \(StorageError.quoted(name)): use 1 to 128 letters, digits, '.', '_' and '-', starting with a letter or digit")
        }
    }

    private static func checkOwnLabels(_ labels: [String: String]) throws(StorageError) {
        if let key = labels.keys.first(where: { $0.hasPrefix("kata-block.volume/") }) {
            throw StorageError(.invalidArgument, "label \(key) is the engine's own")
        }
    }

    /// An absolute path without "." or ".." parts, without a trailing slash.
    static func validateVolumePath(_ path: String) throws(StorageError) -> String {
        guard path.hasPrefix("/") else {
            throw StorageError(.invalidArgument, "volume path \(StorageError.quoted(path)) is not absolute; give the path the pod's volume is mounted at, as Kata sees it")
        }
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        guard !parts.isEmpty, !parts.contains(where: { $0 == "." || $0 == ".." }), !path.utf8.contains(0) else {
            throw StorageError(.invalidArgument, "volume path \(StorageError.quoted(path)) must name a directory below / without \".\" or \"..\"")
        }
        return "/" + parts.joined(separator: "/")
    }
}

extension StorageEngine {
    /// The pool's volumes, described to Kata under `kata`.
    public func volumes(kata: KataDirectVolume = KataDirectVolume()) -> VolumeSet { VolumeSet(engine: self, kata: kata) }
}

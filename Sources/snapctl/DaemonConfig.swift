import Foundation
import StorageCore
import TOMLKit

/// `snapctl serve --config FILE`: every setting optional, defaults below.
///
///     state_dir = "/var/lib/kata-block"
///     socket = "/run/kata-block/snapshotter.sock"
///     backend = "auto"          # auto (dm-thin when the kernel has device-mapper, else file) | file | dm-thin
///     filesystem = "ext4"       # ext4 | xfs
///     default_size = "10GiB"    # new empty devices; the label containerd.io/snapshot/kata-block.size overrides
///     log_level = "info"
///     async_remove = false      # Remove returns at once; devices are deleted in the background
///
///     [file]
///     pool_size = "64GiB"       # the XFS pool file made when state_dir cannot reflink
///
///     [dm_thin]
///     pool_name = "kata-block-pool"
///     existing = false          # true: use the thin-pool named pool_name as it is
///     data_device = "/dev/sdb"  # with metadata_device; without both, files in state_dir/pool
///     metadata_device = "/dev/sdc"
///     data_size = "64GiB"       # size of the data file when the pool is made from files
///     block_size = "64KiB"
///     min_free = "10%"          # refuse new snapshots below this much free data or metadata
struct DaemonConfig: Decodable, Equatable {
    var stateDir = "/var/lib/kata-block"
    var socket = "/run/kata-block/snapshotter.sock"
    var backend = "auto"
    var filesystem = "ext4"
    var defaultSize = "10GiB"
    var logLevel = "info"
    var asyncRemove = false
    var file = FileSection()
    var dmThin = ThinPoolChoice()

    struct FileSection: Decodable, Equatable {
        var poolSize = "64GiB"

        enum CodingKeys: String, CodingKey { case poolSize = "pool_size" }

        init() {}

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            poolSize = try c.decodeIfPresent(String.self, forKey: .poolSize) ?? poolSize
        }
    }

    enum CodingKeys: String, CodingKey {
        case stateDir = "state_dir", socket, backend, filesystem, defaultSize = "default_size", logLevel = "log_level", asyncRemove = "async_remove", file, dmThin = "dm_thin"
    }

    struct ThinSection: Decodable {
        var choice = ThinPoolChoice()
        enum CodingKeys: String, CodingKey {
            case poolName = "pool_name", existing, dataDevice = "data_device", metadataDevice = "metadata_device"
            case dataSize = "data_size", blockSize = "block_size", minFree = "min_free"
        }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            choice.poolName = try c.decodeIfPresent(String.self, forKey: .poolName) ?? choice.poolName
            choice.existing = try c.decodeIfPresent(Bool.self, forKey: .existing) ?? false
            choice.dataDevice = try c.decodeIfPresent(String.self, forKey: .dataDevice)
            choice.metadataDevice = try c.decodeIfPresent(String.self, forKey: .metadataDevice)
            choice.dataSize = try c.decodeIfPresent(String.self, forKey: .dataSize) ?? choice.dataSize
            choice.blockSize = try c.decodeIfPresent(String.self, forKey: .blockSize) ?? choice.blockSize
            choice.minFree = try c.decodeIfPresent(String.self, forKey: .minFree) ?? choice.minFree
        }
    }

    init() {}

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = DaemonConfig()
        stateDir = try c.decodeIfPresent(String.self, forKey: .stateDir) ?? d.stateDir
        socket = try c.decodeIfPresent(String.self, forKey: .socket) ?? d.socket
        backend = try c.decodeIfPresent(String.self, forKey: .backend) ?? d.backend
        filesystem = try c.decodeIfPresent(String.self, forKey: .filesystem) ?? d.filesystem
        defaultSize = try c.decodeIfPresent(String.self, forKey: .defaultSize) ?? d.defaultSize
        logLevel = try c.decodeIfPresent(String.self, forKey: .logLevel) ?? d.logLevel
        asyncRemove = try c.decodeIfPresent(Bool.self, forKey: .asyncRemove) ?? d.asyncRemove
        file = try c.decodeIfPresent(FileSection.self, forKey: .file) ?? d.file
        dmThin = try c.decodeIfPresent(ThinSection.self, forKey: .dmThin)?.choice ?? d.dmThin
    }

    static func load(_ path: String) throws -> DaemonConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw StorageError(.notFound, "cannot read config \(path): \(error.localizedDescription)")
        }
        do {
            return try TOMLDecoder().decode(DaemonConfig.self, from: text)
        } catch {
            throw StorageError(.invalidArgument, "config \(path) is not valid TOML for snapctl serve: \(error)")
        }
    }

    /// Pool settings, checked.
    func poolOptions() throws -> PoolOptions {
        guard let fs = FilesystemType(rawValue: filesystem) else {
            throw StorageError(.invalidArgument, "filesystem = \"\(filesystem)\": use ext4 or xfs")
        }
        guard let size = ByteCount.parse(defaultSize), size >= 512 << 20 else {
            throw StorageError(.invalidArgument, "default_size = \"\(defaultSize)\": use a size of at least 512MiB, e.g. 10GiB")
        }
        guard let poolSize = ByteCount.parse(file.poolSize) else {
            throw StorageError(.invalidArgument, "[file] pool_size = \"\(file.poolSize)\": use a size, e.g. 64GiB")
        }
        switch backend {
        case "dm-thin":
            return try dmThin.options(stateDir: stateDir, filesystem: fs, deviceSize: size)
        case "auto" where ThinPool.isAvailable:
            return try dmThin.options(stateDir: stateDir, filesystem: fs, deviceSize: size)
        case "auto", "file":
            return PoolOptions(backend: .file(poolSize: poolSize), filesystem: fs, defaultDeviceSize: size)
        default:
            throw StorageError(.invalidArgument, "backend = \"\(backend)\": use auto, file or dm-thin")
        }
    }
}

import Foundation
import StorageCore
import TOMLKit

/// `snapctl serve --config FILE`: every setting optional, defaults below.
///
///     state_dir = "/var/lib/kata-block"
///     socket = "/run/kata-block/snapshotter.sock"
///     backend = "auto"          # auto (dm-thin when available, else file) | file
///     filesystem = "ext4"       # ext4 | xfs
///     default_size = "10GiB"    # new empty devices; the label containerd.io/snapshot/kata-block.size overrides
///     log_level = "info"
///     async_remove = false      # Remove returns at once; devices are deleted in the background
///
///     [file]
///     pool_size = "64GiB"       # the XFS pool file made when state_dir cannot reflink
struct DaemonConfig: Decodable, Equatable {
    var stateDir = "/var/lib/kata-block"
    var socket = "/run/kata-block/snapshotter.sock"
    var backend = "auto"
    var filesystem = "ext4"
    var defaultSize = "10GiB"
    var logLevel = "info"
    var asyncRemove = false
    var file = FileSection()

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
        case stateDir = "state_dir", socket, backend, filesystem, defaultSize = "default_size", logLevel = "log_level", asyncRemove = "async_remove", file
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
        case "auto", "file":
            return PoolOptions(backend: .file(poolSize: poolSize), filesystem: fs, defaultDeviceSize: size)
        default:
            throw StorageError(.invalidArgument, "backend = \"\(backend)\": this build has the file backend (auto selects it)")
        }
    }
}

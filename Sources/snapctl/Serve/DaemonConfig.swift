import Foundation
import Logging
import StorageCore
import TOMLKit

/// `snapctl serve --config FILE`: the daemon's own settings and the engine's, every one optional.
///
///     state_dir = "/var/lib/kata-block"
///     socket = "/run/kata-block/snapshotter.sock"
///     namespace = "containerd"  # the pool namespace containerd's snapshots live in
///     log_level = "info"
///     async_remove = false      # Remove returns at once; devices are deleted in the background
///     metrics_address = "127.0.0.1:9464"  # Prometheus endpoint (loopback or unix:/PATH); off without it
///     backend = "auto"          # and every other key of `EngineConfiguration.keys`, e.g.
///     [file]                    # file.pool_size as `pool_size` in a [file] table
///     pool_size = "64GiB"
///
/// A key neither the daemon nor the engine knows is refused, naming it and the file.
struct DaemonConfig: Equatable {
    var stateDir = "/var/lib/kata-block"
    var socket = "/run/kata-block/snapshotter.sock"
    var namespace = "containerd"
    var logLevel = "info"
    var asyncRemove = false
    var metricsAddress: MetricsAddress?
    var engine = EngineConfiguration()

    /// The daemon's own keys, with their help and defaults (the engine's are `EngineConfiguration.keys`).
    static let keys: [(name: String, help: String, defaultValue: String)] = [
        ("state_dir", "the state directory holding the pool", "/var/lib/kata-block"),
        ("socket", "the unix socket containerd connects to", "/run/kata-block/snapshotter.sock"),
        ("namespace", "the pool namespace containerd's snapshots live in", "containerd"),
        ("log_level", "trace, debug, info, notice, warning, error or critical", "info"),
        ("async_remove", "Remove returns at once; devices are deleted in the background", "false"),
        ("metrics_address", "Prometheus endpoint: 127.0.0.1:PORT, [::1]:PORT or unix:/PATH (GET /metrics); off when unset", ""),
    ]

    init() {}

    /// Reads `path`.
    static func load(_ path: String) throws -> DaemonConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw StorageError(.notFound, "cannot read config \(path): \(error.localizedDescription)")
        }
        return try parse(text, file: path)
    }

    /// Reads TOML text; `file` names it in errors.
    static func parse(_ text: String, file: String) throws(StorageError) -> DaemonConfig {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch {
            throw StorageError(.invalidArgument, "config \(file) is not valid TOML: \(error)")
        }
        var config = DaemonConfig()
        for (key, value) in try flatten(table, file: file) {
            do throws(StorageError) {
                try config.set(key, to: value)
            } catch {
                throw StorageError(.invalidArgument, "config \(file): \(error.message)")
            }
        }
        do {
            try config.engine.validate()
        } catch {
            throw StorageError(.invalidArgument, "config \(file): \(error.message)")
        }
        return config
    }

    /// Tables become dotted keys ("file.pool_size"); values their text.
    private static func flatten(_ table: TOMLTable, prefix: String = "", file: String) throws(StorageError) -> [(String, String)] {
        var result: [(String, String)] = []
        for key in table.keys.sorted() {
            guard let value = table[key] else { continue }
            let name = prefix + key
            if let inner = value.table {
                result += try flatten(inner, prefix: name + ".", file: file)
            } else if let string = value.string {
                result.append((name, string))
            } else if let flag = value.bool {
                result.append((name, flag ? "true" : "false"))
            } else if let number = value.int {
                result.append((name, "\(number)"))
            } else if let number = value.double {
                result.append((name, "\(number)"))
            } else {
                throw StorageError(.invalidArgument, "config \(file): \(name) must be a string, number or true/false")
            }
        }
        return result
    }

    /// One setting by name: the daemon's own, else the engine's (which refuses unknown names).
    mutating func set(_ name: String, to value: String) throws(StorageError) {
        switch name {
        case "state_dir": stateDir = value
        case "socket": socket = value
        case "namespace":
            guard !value.isEmpty else { throw StorageError(.invalidArgument, "namespace must not be empty") }
            try VolumeSet.checkFrontendNamespace(value)
            namespace = value
        case "log_level":
            guard Logger.Level(rawValue: value) != nil else {
                throw StorageError(.invalidArgument, "log_level \"\(value)\": use trace, debug, info, notice, warning, error or critical")
            }
            logLevel = value
        case "metrics_address":
            metricsAddress = value.isEmpty ? nil : try MetricsAddress.parse(value)
        case "async_remove":
            guard let flag = Bool(value) else { throw StorageError(.invalidArgument, "async_remove \"\(value)\" is not true or false") }
            asyncRemove = flag
        default:
            guard EngineConfiguration.keys.contains(where: { $0.name == name }) else {
                let known = (Self.keys.map(\.name) + EngineConfiguration.keys.map(\.name)).joined(separator: ", ")
                throw StorageError(.invalidArgument, "unknown setting \"\(name)\"; the settings are \(known)")
            }
            try engine.set(name, to: value)
        }
    }
}

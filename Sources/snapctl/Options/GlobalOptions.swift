import ArgumentParser
import Logging
import StorageCore

/// Flags every command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "State directory holding the pool and its metadata.")
    var stateDir: String = "/var/lib/kata-block"

    @Option(name: .long, help: "Output format: table or json.")
    var format: OutputFormat = .table

    @Flag(name: .shortAndLong, help: "Print only names (or nothing) instead of tables.")
    var quiet = false

    @Flag(name: .long, help: "Log at debug level to standard error.")
    var verbose = false

    /// Structured logs to standard error: warnings by default, everything with --verbose.
    func logger() -> Logger {
        var logger = Logger(label: "snapctl") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = verbose ? .debug : .warning
        return logger
    }

    /// The pool in the state directory; works beside a running `snapctl serve` and other users.
    func openEngine() async throws -> StorageEngine {
        try await StorageEngine.open(stateDirectory: stateDir, logger: logger())
    }
}

/// Which namespace a command works in.
struct NamespaceOption: ParsableArguments {
    /// Where snapshots snapctl creates go when no namespace is given.
    static let defaultForNew = "snapctl"

    @Option(name: .long, help: "Namespace of the snapshot (containerd: \"containerd\"; containers/storage: \"containers-storage\"). New snapshots default to \"\(NamespaceOption.defaultForNew)\"; existing ones are looked up in every namespace.")
    var namespace: String?

    /// The namespace for a new snapshot.
    var forNew: String { namespace ?? Self.defaultForNew }

    /// The namespace holding `key`: the one given, or the only one that has it.
    func holding(_ key: String, in engine: StorageEngine) async throws -> SnapshotNamespace {
        if let namespace { return engine.snapshots(in: namespace) }
        // Volumes are changed through `snapctl volume`, which keeps their Kata descriptions true.
        let found = try engine.namespaces(containing: key).filter { $0 != VolumeSet.namespace }
        switch found.count {
        case 1: return engine.snapshots(in: found[0])
        case 0: throw StorageError(.notFound, "snapshot \"\(key)\" does not exist in any namespace")
        default: throw ValidationError("\"\(key)\" exists in namespaces \(found.joined(separator: ", ")); pass --namespace")
        }
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table
    case json
}

/// Sizes like 10GiB, 512MiB, 4G or plain bytes.
struct ByteSize: ExpressibleByArgument, CustomStringConvertible {
    var bytes: UInt64

    init(bytes: UInt64) { self.bytes = bytes }

    init?(argument: String) {
        guard let bytes = ByteCount.parse(argument) else { return nil }
        self.bytes = bytes
    }

    var description: String { ByteCount.format(Int64(bytes)) }
}

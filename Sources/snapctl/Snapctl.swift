import ArgumentParser
import Foundation
import Logging
import StorageCore

@main
struct Snapctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapctl",
        abstract: "Administer Kata Block Storage pools and snapshots.",
        discussion: "Snapshots are copy-on-write block devices with a filesystem, ready to hand to a VM guest.",
        subcommands: [PoolCommand.self, SnapshotCommand.self, ServeCommand.self, FsckCommand.self, CleanupCommand.self]
    )
}

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

    func openEngine() throws -> StorageEngine {
        try StorageEngine.open(stateDirectory: stateDir, logger: logger())
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

import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import SnapshotterAdapter
import StorageCore

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve containerd's snapshots API on a unix socket (load it as a proxy snapshotter).",
        discussion: """
            containerd config:
              [proxy_plugins.kata-block]
                type = "snapshot"
                address = "/run/kata-block/snapshotter.sock"
            The pool is created on first start from the config's settings. SIGTERM or SIGINT drains
            in-flight calls and exits 0.
            """
    )

    @Option(help: "TOML config file (see `snapctl serve --help`).") var config: String?
    @Option(help: "State directory (overrides the config).") var stateDir: String?
    @Option(help: "Unix socket path (overrides the config).") var socket: String?
    @Flag(help: "Log every call at debug level.") var verbose = false

    func run() async throws {
        // Run Swift concurrency on NIO's event loops: gRPC handlers then answer without a thread hop.
        // Blocking engine calls still go to their own threads (EngineOffload).
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        var settings = try config.map(DaemonConfig.load) ?? DaemonConfig()
        if let stateDir { settings.stateDir = stateDir }
        if let socket { settings.socket = socket }
        let options = try settings.poolOptions()
        let level = verbose ? Logger.Level.debug : Logger.Level(rawValue: settings.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "kata-block")
        logger.logLevel = level
        umask(0o077)
        try SnapshotterServer.claim(socketPath: settings.socket)

        let start = ContinuousClock.now
        let engine = try Self.openOrCreate(settings.stateDir, options, logger)
        let status = try engine.status()
        logger.info("pool open", metadata: [
            "state": "\(settings.stateDir)", "backend": "\(status.backend)", "snapshots": "\(status.snapshots)",
            "took": "\(ContinuousClock.now - start)",
        ])
        let server = try SnapshotterServer(engine: engine, socketPath: settings.socket, logger: logger,
                                           asyncRemove: settings.asyncRemove)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: server)]
        // The reaper deletes devices whose snapshots are gone: all of them with async_remove, and
        // otherwise those still open by a user (a mount, a guest) when their snapshot was removed.
        services.append(.init(service: DeviceReaper(engine: engine, logger: logger)))
        engine.enableBackgroundDeletion()
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
        try engine.close()
        logger.info("stopped")
    }

    /// The pool in `state`, made with `options` on first start.
    static func openOrCreate(_ state: String, _ options: PoolOptions, _ logger: Logger) throws(StorageError) -> StorageEngine {
        do {
            return try StorageEngine.open(stateDirectory: state, logger: logger)
        } catch {
            guard error.code == .notFound else { throw error }
            return try StorageEngine.createPool(at: state, options: options, logger: logger)
        }
    }
}

import ArgumentParser
import Foundation
import KBSSystem
import Logging
import NIOCore
import NIOPosix
import Prometheus
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
            The pool is created on first start from the config's settings. Other processes (snapctl,
            the containers/storage driver) may use the same pool while it serves. SIGTERM or SIGINT
            drains in-flight calls and exits 0.

            Config keys (TOML; a table groups dotted keys, e.g. [file] pool_size = "64GiB"):
            \((DaemonConfig.keys + EngineConfiguration.keys.map { ($0.name, $0.help, $0.defaultValue) })
                .map { "  \($0.name) (default \($0.defaultValue.isEmpty ? "none" : $0.defaultValue)): \($0.help)" }.joined(separator: "\n"))
            """
    )

    @Option(help: "TOML config file (keys below).") var config: String?
    @Option(help: "State directory (overrides the config).") var stateDir: String?
    @Option(help: "Unix socket path (overrides the config).") var socket: String?
    @Option(help: "Prometheus endpoint, 127.0.0.1:PORT or unix:/PATH (overrides the config).") var metricsAddress: String?
    @Flag(help: "Log every call at debug level.") var verbose = false

    func run() async throws {
        // Run Swift concurrency on NIO's event loops: gRPC handlers then answer without a thread hop.
        // Blocking engine work runs on the engine's own threads.
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        var settings = try config.map(DaemonConfig.load) ?? DaemonConfig()
        if let stateDir { settings.stateDir = stateDir }
        if let socket { settings.socket = socket }
        if let metricsAddress { try settings.set("metrics_address", to: metricsAddress) }
        let level = verbose ? Logger.Level.debug : Logger.Level(rawValue: settings.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "kata-block")
        logger.logLevel = level
        Files.setCreationMask(0o077)
        try SnapshotterServer.claim(socketPath: settings.socket)
        let registry = PrometheusCollectorRegistry()
        if settings.metricsAddress != nil { MetricsService.bootstrap(registry) }

        let start = ContinuousClock.now
        let engine = try await StorageEngine.openOrCreate(stateDirectory: settings.stateDir, configuration: settings.engine, logger: logger)
        let status = try await engine.status()
        logger.info("pool open", metadata: [
            "version": "\(Release.version)", "state": "\(engine.stateDirectory)", "backend": "\(status.backend)", "snapshots": "\(status.snapshots)",
            "namespace": "\(settings.namespace)", "took": "\(ContinuousClock.now - start)",
        ])
        await refreshKataVolumes(engine, logger)
        let service = SnapshotsService(engine: engine, namespace: settings.namespace, logger: logger, asyncRemove: settings.asyncRemove)
        let server = SnapshotterServer(service: service, socketPath: settings.socket, logger: logger)
        engine.enableBackgroundDeletion()
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: server), .init(service: MaintenanceService(engine: engine, logger: logger)),
        ]
        if let address = settings.metricsAddress {
            services.append(.init(service: MetricsService(address: address, registry: registry, engine: engine, logger: logger)))
        }
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        do {
            try await group.run()
        } catch {
            try? await engine.close()
            throw error
        }
        try await engine.close()
        logger.info("stopped")
    }

    /// Volumes handed to Kata are described again: after a reboot /run is empty and their
    /// devices are attached at new paths. A failure is logged, not fatal: containers still run.
    private func refreshKataVolumes(_ engine: StorageEngine, _ logger: Logger) async {
        let root = ProcessInfo.processInfo.environment["KATA_DIRECT_VOLUME_ROOT_PATH"] ?? KataDirectVolume.defaultRoot
        do {
            let count = try await engine.volumes(kata: KataDirectVolume(root: root)).refreshKataAttachments()
            if count > 0 { logger.info("volumes described to Kata again", metadata: ["volumes": "\(count)", "root": "\(root)"]) }
        } catch {
            logger.warning("cannot describe volumes to Kata again; run snapctl volume kata-attach for each", metadata: ["error": "\(error)"])
        }
    }
}

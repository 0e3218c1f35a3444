import KBSSystem
import Logging
import ServiceLifecycle
import StorageCore

/// The snapshots service on a unix socket, as a Service that drains in-flight calls on graceful shutdown.
public struct SnapshotterServer: Service {
    public let socketPath: String
    private let service: SnapshotsService
    private let logger: Logger
    private let limits: RPCServerLimits
    private let onListening: @Sendable () -> Void

    /// Makes `socketPath` free to serve: refuses while another daemon answers there, replaces a
    /// dead daemon's socket. Call before doing any work a second daemon must not do.
    public static func claim(socketPath: String) throws(SocketClaimError) {
        try UnixSocket.claim(socketPath)
    }

    /// Serves `service` on `socketPath` (claimed with `claim` first) once `run` is called.
    public init(
        service: SnapshotsService, socketPath: String, logger: Logger, limits: RPCServerLimits = .init(),
        onListening: @escaping @Sendable () -> Void = {}
    ) {
        self.service = service
        self.socketPath = socketPath
        self.logger = logger
        self.limits = limits
        self.onListening = onListening
    }

    public func run() async throws {
        let server = RPCServer(routes: service.routes, limits: limits, logger: logger)
        do {
            try await server.bind(socketPath)
            try UnixSocket.restrictToOwner(socketPath)
        } catch {
            await server.shutDown()
            await server.close()
            throw error
        }
        logger.info("serving containerd snapshots API", metadata: ["socket": "\(socketPath)"])
        onListening()
        // Serves until a graceful shutdown (SIGTERM) or cancellation stops the listener, then
        // drains: GOAWAY to every client, the calls in progress finish, connections close.
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                try? await server.waitUntilClosed()
            } onCancel: {
                server.stopListening()
            }
        } onGracefulShutdown: {
            logger.info("shutting down: draining in-flight calls")
            server.stopListening()
        }
        await server.shutDown()
        await server.close()
        _ = try? Files.remove(socketPath)
    }
}

import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import ServiceLifecycle
import StorageCore

/// The snapshots service on a unix socket, as a Service that drains in-flight calls on graceful shutdown.
public struct SnapshotterServer: Service {
    public let socketPath: String
    private let engine: StorageEngine
    private let logger: Logger
    private let onListening: @Sendable () -> Void
    private let asyncRemove: Bool

    /// Checks that `socketPath` can be served: refuses while another daemon answers there. Call before
    /// doing any work a second daemon must not do.
    public static func claim(socketPath: String) throws(StorageError) {
        try SocketPath.claim(socketPath)
    }

    /// Claims `socketPath` (replacing a stale socket, refusing a live one); call `run` to serve.
    public init(
        engine: StorageEngine, socketPath: String, logger: Logger, asyncRemove: Bool = false,
        onListening: @escaping @Sendable () -> Void = {}
    ) throws(StorageError) {
        try SocketPath.claim(socketPath)
        self.asyncRemove = asyncRemove
        self.engine = engine
        self.socketPath = socketPath
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        let transport = HTTP2ServerTransport.Posix(address: .unixDomainSocket(path: socketPath), transportSecurity: .plaintext)
        let server = GRPCServer(transport: transport, services: [SnapshotsService(engine: engine, logger: logger, asyncRemove: asyncRemove)])
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await server.serve() }
                _ = try await transport.listeningAddress
                try SocketPath.restrictToOwner(socketPath)
                logger.info("serving containerd snapshots API", metadata: ["socket": "\(socketPath)"])
                onListening()
            }
        } onGracefulShutdown: {
            logger.info("shutting down: draining in-flight calls")
            server.beginGracefulShutdown()
        }
        SocketPath.release(socketPath)
    }
}

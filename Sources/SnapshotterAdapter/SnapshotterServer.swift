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
        try DaemonSocket.claim(socketPath)
    }

    /// Claims `socketPath` (replacing a stale socket, refusing a live one); call `run` to serve.
    public init(
        engine: StorageEngine, socketPath: String, logger: Logger, asyncRemove: Bool = false,
        onListening: @escaping @Sendable () -> Void = {}
    ) throws(StorageError) {
        try DaemonSocket.claim(socketPath)
        self.asyncRemove = asyncRemove
        self.engine = engine
        self.socketPath = socketPath
        self.logger = logger
        self.onListening = onListening
    }

    /// containerd's gRPC-Go client pings to estimate bandwidth (BDP) while data flows: allow it
    /// (the socket is root-only and local), and answer the pings before NIOHTTP2's control-frame
    /// limit sees them (`ClientPingResponder`).
    static var transportConfig: HTTP2ServerTransport.Posix.Config {
        var config = HTTP2ServerTransport.Posix.Config.defaults
        config.connection.keepalive.clientBehavior = .init(minPingIntervalWithoutCalls: .zero, allowWithoutCalls: true)
        config.channelDebuggingCallbacks = .init(
            onBindTCPListener: nil,
            onAcceptTCPConnection: { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ClientPingResponder(), position: .first)
                }
            },
            onAcceptHTTP2Stream: nil)
        return config
    }

    public func run() async throws {
        let transport = HTTP2ServerTransport.Posix(
            address: .unixDomainSocket(path: socketPath), transportSecurity: .plaintext, config: Self.transportConfig)
        let server = GRPCServer(transport: transport, services: [SnapshotsService(engine: engine, logger: logger, asyncRemove: asyncRemove)])
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await server.serve() }
                _ = try await transport.listeningAddress
                try DaemonSocket.restrictToOwner(socketPath)
                logger.info("serving containerd snapshots API", metadata: ["socket": "\(socketPath)"])
                onListening()
            }
        } onGracefulShutdown: {
            logger.info("shutting down: draining in-flight calls")
            server.beginGracefulShutdown()
        }
        DaemonSocket.release(socketPath)
    }
}

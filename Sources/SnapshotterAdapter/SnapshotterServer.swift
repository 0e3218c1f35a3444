import GRPCCore
import GRPCNIOTransportHTTP2Posix
import KBSSystem
import Logging
import ServiceLifecycle
import StorageCore

/// The snapshots service on a unix socket, as a Service that drains in-flight calls on graceful shutdown.
public struct SnapshotterServer: Service {
    public let socketPath: String
    private let service: SnapshotsService
    private let logger: Logger
    private let onListening: @Sendable () -> Void

    /// Makes `socketPath` free to serve: refuses while another daemon answers there, replaces a
    /// dead daemon's socket. Call before doing any work a second daemon must not do.
    public static func claim(socketPath: String) throws(SocketClaimError) {
        try UnixSocket.claim(socketPath)
    }

    /// Serves `service` on `socketPath` (claimed with `claim` first) once `run` is called.
    public init(service: SnapshotsService, socketPath: String, logger: Logger, onListening: @escaping @Sendable () -> Void = {}) {
        self.service = service
        self.socketPath = socketPath
        self.logger = logger
        self.onListening = onListening
    }

    /// containerd's gRPC-Go client pings to estimate bandwidth (BDP) while data flows: allow it
    /// (the socket is root-only and local), and answer the pings before NIOHTTP2's control-frame
    /// limit sees them (`ClientPingResponder`).
    public static var transportConfig: HTTP2ServerTransport.Posix.Config {
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
        let server = GRPCServer(transport: transport, services: [service])
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await server.serve() }
                _ = try await transport.listeningAddress
                try UnixSocket.restrictToOwner(socketPath)
                logger.info("serving containerd snapshots API", metadata: ["socket": "\(socketPath)"])
                onListening()
            }
        } onGracefulShutdown: {
            logger.info("shutting down: draining in-flight calls")
            server.beginGracefulShutdown()
        }
        _ = try? Files.remove(socketPath)
    }
}

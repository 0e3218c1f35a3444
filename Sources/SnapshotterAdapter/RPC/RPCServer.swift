import Logging
import NIOCore
import NIOHTTP2
import NIOPosix
import Synchronization

/// Limits a server holds its clients to.
public struct RPCServerLimits: Sendable {
    /// The largest request message accepted (gRPC's default receive limit).
    public var maxRequestBytes = 4 << 20
    /// Streams one connection may have open at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS).
    public var maxConcurrentStreams = 1_000
    /// How long a graceful shutdown waits for calls in progress before closing connections.
    public var drainTimeout: TimeAmount = .seconds(30)

    public init() {}
}

/// A small gRPC server on swift-nio-http2 over a unix socket (h2c): unary and server-streaming
/// methods, protobuf messages, `grpc-status`/`grpc-message` trailers, `grpc-timeout` deadlines,
/// cancellation on RST_STREAM and disconnect, HTTP/2 PING answers, and a graceful drain.
///
/// One event loop serves every connection; methods run on Swift's concurrency pool, and a unary
/// call's answer (headers, message, trailers) goes back in one write.
final class RPCServer: Sendable {
    private let routes: RPCRoutes
    private let limits: RPCServerLimits
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    private let calls = RPCCallTracker()
    private let connections = Mutex<[ObjectIdentifier: any Channel]>([:])
    private let listener = Mutex<(any Channel)?>(nil)

    init(routes: RPCRoutes, limits: RPCServerLimits = .init(), logger: Logger) {
        self.routes = routes
        self.limits = limits
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    /// Binds `socketPath` (which must not exist) and returns once it listens.
    func bind(_ socketPath: String) async throws {
        let (routes, limits, calls, logger) = (routes, limits, calls, logger)
        let configuration = Self.http2Configuration(limits)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(ClientPingResponder())
                    _ = try pipeline.configureHTTP2Pipeline(
                        mode: .server, connectionConfiguration: configuration.connection, streamConfiguration: configuration.stream
                    ) { stream in
                        stream.eventLoop.makeCompletedFuture {
                            try stream.pipeline.syncOperations.addHandler(
                                RPCStreamHandler(routes: routes, limits: limits, calls: calls, logger: logger))
                        }
                    }
                    try pipeline.addHandler(ConnectionErrorHandler(logger: logger))
                    track(channel)
                }
            }
            .bind(unixDomainSocketPath: socketPath).get()
        listener.withLock { $0 = channel }
    }

    static func http2Configuration(_ limits: RPCServerLimits) -> NIOHTTP2Handler.Configuration {
        var configuration = NIOHTTP2Handler.Configuration()
        configuration.connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: limits.maxConcurrentStreams),
            HTTP2Setting(parameter: .maxHeaderListSize, value: 16 << 10),
            HTTP2Setting(parameter: .initialWindowSize, value: 1 << 20),
        ]
        configuration.connection.targetWindowSize = 8 << 20
        configuration.stream.targetWindowSize = 1 << 20
        return configuration
    }

    private func track(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        connections.withLock { $0[id] = channel }
        channel.closeFuture.whenComplete { [self] _ in _ = connections.withLock { $0.removeValue(forKey: id) } }
    }

    /// Returns when the listener is closed (by `shutDown`).
    func waitUntilClosed() async throws {
        guard let channel = listener.withLock({ $0 }) else { return }
        try await channel.closeFuture.get()
    }

    /// Stops accepting connections; `waitUntilClosed` returns.
    func stopListening() {
        listener.withLock { $0 }?.close(promise: nil)
    }

    /// Stops accepting connections, tells every client with GOAWAY to open no new streams, waits
    /// (up to the drain limit) for the calls in progress, then closes every connection.
    func shutDown() async {
        let channel = listener.withLock { $0 }
        try? await channel?.close()
        let open = connections.withLock { Array($0.values) }
        for connection in open {
            let goAway = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: .maxID, errorCode: .noError, opaqueData: nil))
            connection.writeAndFlush(goAway, promise: nil)
        }
        let running = calls.running
        if running > 0 {
            logger.info("draining calls in progress", metadata: ["calls": "\(running)"])
            let limit = ContinuousClock.now + .nanoseconds(limits.drainTimeout.nanoseconds)
            while calls.running > 0, ContinuousClock.now < limit {
                try? await Task.sleep(for: .milliseconds(10))
            }
            if calls.running > 0 {
                logger.warning("calls still running after the drain limit; closing connections", metadata: ["calls": "\(calls.running)"])
            }
        }
        for connection in connections.withLock({ Array($0.values) }) { try? await connection.close() }
    }

    /// Releases the event loop (after `shutDown`).
    func close() async {
        try? await group.shutdownGracefully()
    }
}

/// Last in a connection's pipeline: errors no stream took. NIOHTTP2 reports both kinds of
/// protocol error here: a stream error (a frame for a closed stream, a bad header, a stream past
/// the limit; it has reset that stream) leaves the connection and its other calls alone, a
/// connection error (bytes that are not HTTP/2, a flood; it has sent GOAWAY) closes the
/// connection. The daemon serves on either way.
private final class ConnectionErrorHandler: ChannelInboundHandler {
    typealias InboundIn = Any
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if Self.endsConnection(error) {
            logger.info("closing a client connection after a protocol error", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        } else {
            logger.debug("a client's stream was reset after a protocol error", metadata: ["error": "\(error)"])
        }
    }

    /// The connection errors NIOHTTP2 raises for a peer's bytes (everything else it reports is a
    /// stream error), and I/O errors.
    static func endsConnection(_ error: any Error) -> Bool {
        switch error {
        case is IOError, is NIOHTTP2Errors.BadClientMagic, is NIOHTTP2Errors.UnableToParseFrame,
             is NIOHTTP2Errors.ExcessiveOutboundFrameBuffering, is NIOHTTP2Errors.ExcessiveEmptyDataFrames,
             is NIOHTTP2Errors.ExcessiveNumberOfGlitches, is NIOHTTP2Errors.ExcessivelyLargeHeaderBlock,
             is NIOHTTP2Errors.ExcessiveRSTFrames, is NIOHTTP2Errors.ExcessiveControlFrames,
             is NIOHTTP2Errors.ExcessiveContinuationFrames, is NIOHTTP2Errors.ExcessiveStreamErrors:
            true
        default:
            false
        }
    }
}

import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle
import StorageCore

/// Where the daemon's Prometheus endpoint listens: TCP on a loopback address, or a unix socket.
enum MetricsAddress: Equatable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(String)

    /// "127.0.0.1:9464", "[::1]:9464", "localhost:9464", or "unix:/run/kata-block/metrics.sock".
    /// Anything reachable from outside the host is refused: the numbers describe the node.
    static func parse(_ text: String) throws(StorageError) -> MetricsAddress {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard path.hasPrefix("/") else { throw StorageError(.invalidArgument, "metrics_address \"\(text)\": give an absolute socket path, e.g. unix:/run/kata-block/metrics.sock") }
            return .unix(path)
        }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
            throw StorageError(.invalidArgument, "metrics_address \"\(text)\": use HOST:PORT on a loopback address (127.0.0.1:9464, [::1]:9464) or unix:/PATH")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host == "localhost" { host = "127.0.0.1" }
        guard host == "::1" || host.split(separator: ".").first == "127" && host.split(separator: ".").count == 4 else {
            throw StorageError(.invalidArgument, "metrics_address \"\(text)\": the endpoint listens on loopback only (127.0.0.1, ::1) or a unix socket; put a proxy in front to expose it")
        }
        return .tcp(host: host, port: port)
    }

    var description: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): "unix:\(path)"
        }
    }
}

/// The daemon's Prometheus endpoint: `GET /metrics` answers the text exposition format with
/// the RPC and engine counters and histograms (swift-metrics, bootstrapped onto `registry`) and
/// the pool's gauges, read from the pool at each scrape.
struct MetricsService: Service {
    let address: MetricsAddress
    let registry: PrometheusCollectorRegistry
    let engine: StorageEngine
    let logger: Logger

    /// Histogram buckets for latencies from a Stat answered in tens of microseconds to a slow
    /// device teardown.
    static let latencyBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
    ]

    /// Sends swift-metrics to `registry` (once per process).
    static func bootstrap(_ registry: PrometheusCollectorRegistry) {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = latencyBuckets
        MetricsSystem.bootstrap(factory)
    }

    func run() async throws {
        let scrape = Scrape(registry: registry, gauges: PoolGauges(registry: registry), engine: engine, logger: logger)
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(scrape: scrape))
                }
            }
        let channel: any Channel
        switch address {
        case .tcp(let host, let port): channel = try await bootstrap.bind(host: host, port: port).get()
        case .unix(let path): channel = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
        }
        logger.info("metrics endpoint listening", metadata: ["address": "\(address)", "path": "/metrics"])
        try? await gracefulShutdown()
        try? await channel.close()
    }
}

/// One scrape: the pool's gauges refreshed, then everything the registry holds.
struct Scrape: Sendable {
    let registry: PrometheusCollectorRegistry
    let gauges: PoolGauges
    let engine: StorageEngine
    let logger: Logger

    func body() async -> [UInt8] {
        do {
            gauges.update(try await engine.status())
        } catch {
            logger.warning("metrics: cannot read the pool's status; its gauges keep their last values", metadata: ["error": "\(error)"])
        }
        return registry.emitToBuffer()
    }
}

/// HTTP/1.1 on the metrics socket: GET (or HEAD) /metrics; 404 for other paths, 405 for other methods.
final class MetricsHTTPHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let scrape: Scrape

    init(scrape: Scrape) { self.scrape = scrape }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let request) = unwrapInboundIn(data) else { return }
        let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
        guard request.method == .GET || request.method == .HEAD else {
            return respond(context, .methodNotAllowed, Array("use GET /metrics\n".utf8), keepAlive: request.isKeepAlive, extra: [("Allow", "GET, HEAD")])
        }
        guard path == "/metrics" else {
            return respond(context, .notFound, Array("metrics are at /metrics\n".utf8), keepAlive: request.isKeepAlive)
        }
        let loop = context.eventLoop
        let bound = NIOLoopBound(context, eventLoop: loop)
        let head = request.method == .HEAD
        let keepAlive = request.isKeepAlive
        let scrape = scrape
        loop.makeFutureWithTask { await scrape.body() }.whenSuccess { [self] body in
            respond(bound.value, .ok, body, keepAlive: keepAlive, extra: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], headOnly: head)
        }
    }

    private func respond(_ context: ChannelHandlerContext, _ status: HTTPResponseStatus, _ body: [UInt8], keepAlive: Bool,
                         extra: [(String, String)] = [], headOnly: Bool = false) {
        var headers = HTTPHeaders([("Content-Length", "\(body.count)")] + extra)
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if !headOnly { context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil) }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

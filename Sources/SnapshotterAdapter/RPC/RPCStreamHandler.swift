import Logging
import NIOCore
import NIOHPACK
import NIOHTTP2

/// One HTTP/2 stream of the gRPC server: one call.
///
/// Reads the request headers (method, content type, path, encoding, deadline), then the request
/// message (5-byte framing: compressed flag, big-endian length), runs the method off the event
/// loop once the client has half-closed, and writes the response headers, messages and
/// `grpc-status` trailers. A call ends exactly once: with its result, its deadline, or the
/// client's cancellation (RST_STREAM or disconnect), whichever comes first; a result that comes
/// after the end is dropped, never reported.
final class RPCStreamHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private enum State {
        case awaitingHeaders, receiving, running, ended
    }

    private let routes: RPCRoutes
    private let limits: RPCServerLimits
    private let calls: RPCCallTracker
    private let logger: Logger
    private var state = State.awaitingHeaders
    private var path = ""
    private var method = "unknown"
    private var started = ContinuousClock.now
    private var route: RPCRoute?
    private var request = ByteBuffer()
    private var sentHeaders = false
    private var task: Task<Void, Never>?
    private var deadline: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    init(routes: RPCRoutes, limits: RPCServerLimits, calls: RPCCallTracker, logger: Logger) {
        self.routes = routes
        self.limits = limits
        self.calls = calls
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let headers):
            switch state {
            case .awaitingHeaders:
                start(headers.headers, context)
                if headers.endStream, state == .receiving { requestEnded() }
            case .receiving where headers.endStream:
                requestEnded()  // trailers from the client
            default:
                break
            }
        case .data(let frame):
            guard state == .receiving, case .byteBuffer(var bytes) = frame.data else { return }
            request.writeBuffer(&bytes)
            if request.readableBytes > limits.maxRequestBytes + RPCMessageFraming.prefixLength {
                end(RPCStatus(.resourceExhausted, "the request is larger than the limit of \(limits.maxRequestBytes) bytes"))
            } else if frame.endStream {
                requestEnded()
            }
        case .rstStream:
            cancel("the client reset the stream")
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancel("the stream closed")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("rpc stream error", metadata: ["path": "\(path)", "error": "\(error)"])
        cancel("stream error: \(error)")
        context.close(promise: nil)
    }

    // MARK: the request

    private func start(_ headers: HPACKHeaders, _ context: ChannelHandlerContext) {
        path = headers.first(name: ":path") ?? ""
        started = ContinuousClock.now
        method = RPCMetrics.method(of: path, known: routes[path] != nil)
        guard headers.first(name: ":method") == "POST" else {
            return refuse(httpStatus: "405", RPCStatus(.internalError, "gRPC requests use POST, not \(headers.first(name: ":method") ?? "nothing")"))
        }
        let contentType = headers.first(name: "content-type") ?? ""
        guard contentType.hasPrefix("application/grpc") else {
            return refuse(httpStatus: "415", RPCStatus(.internalError, "content-type \"\(contentType)\" is not application/grpc"))
        }
        guard let route = routes[path] else {
            return end(RPCStatus(.unimplemented, "unknown method \(path)"))
        }
        if let encoding = headers.first(name: "grpc-encoding"), encoding != "identity" {
            return end(RPCStatus(.unimplemented, "compression \"\(encoding)\" is not supported: send messages uncompressed (identity)"),
                       acceptedEncoding: "identity")
        }
        if let text = headers.first(name: "grpc-timeout") {
            guard let timeout = RPCTimeout.parse(text) else {
                return end(RPCStatus(.internalError, "malformed grpc-timeout \"\(text)\""))
            }
            deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
                end(RPCStatus(.deadlineExceeded, "the deadline of \(text) passed before the call finished"))
            }
        }
        self.route = route
        state = .receiving
    }

    /// The client half-closed: exactly one whole message must have arrived.
    private func requestEnded() {
        guard let route else { return }
        guard request.readableBytes >= RPCMessageFraming.prefixLength,
              let flag = request.readInteger(as: UInt8.self), let length = request.readInteger(as: UInt32.self)
        else {
            return end(RPCStatus(.internalError, request.readableBytes == 0
                ? "the request ended without a message" : "the request ended inside a message header"))
        }
        guard flag == 0 else {
            guard flag == 1 else { return end(RPCStatus(.internalError, "bad message flag \(flag)")) }
            return end(RPCStatus(.unimplemented, "compressed messages are not supported: send messages uncompressed (identity)"),
                       acceptedEncoding: "identity")
        }
        guard length <= limits.maxRequestBytes else {
            return end(RPCStatus(.resourceExhausted, "a request message of \(length) bytes is larger than the limit of \(limits.maxRequestBytes) bytes"))
        }
        guard request.readableBytes >= Int(length) else {
            return end(RPCStatus(.internalError, "truncated request: the stream ended after \(request.readableBytes) of the message's \(length) bytes"))
        }
        guard request.readableBytes == Int(length) else {
            return end(RPCStatus(.internalError, "more than one request message for a method that takes one"))
        }
        run(route, request)
    }

    // MARK: the call

    private func run(_ route: RPCRoute, _ message: ByteBuffer) {
        guard let context else { return }
        state = .running
        calls.begin()
        do {
            if let messages = try route.now?(message) { return finish(.success(messages)) }
        } catch {
            return finish(.failure(Self.status(of: error)))
        }
        guard let run = route.run else { return finish(.failure(RPCStatus(.internalError, "\(path) has no way to run"))) }
        task = Self.start(run, message, NIOLoopBound(self, eventLoop: context.eventLoop))
    }

    private static func start(
        _ run: @escaping @Sendable (ByteBuffer) async throws -> RPCRoute.Messages, _ message: ByteBuffer,
        _ handler: NIOLoopBound<RPCStreamHandler>
    ) -> Task<Void, Never> {
        return Task {
            let outcome = await outcome(of: run, message)
            handler.eventLoop.execute { handler.value.finish(outcome) }
        }
    }

    private static func outcome(
        of run: @Sendable (ByteBuffer) async throws -> RPCRoute.Messages, _ message: ByteBuffer
    ) async -> Result<RPCRoute.Messages, RPCStatus> {
        do {
            return .success(try await run(message))
        } catch {
            return .failure(status(of: error))
        }
    }

    static func status(of error: any Error) -> RPCStatus {
        switch error {
        case let status as RPCStatus: status
        case let convertible as any RPCStatusConvertible: convertible.rpcStatus
        case is CancellationError: RPCStatus(.cancelled, "the call was cancelled")
        default: RPCStatus(.unknown, "\(error)")
        }
    }

    private func finish(_ outcome: Result<RPCRoute.Messages, RPCStatus>) {
        guard state == .running else { return }  // ended by its deadline or the client meanwhile
        switch outcome {
        case .success(let messages):
            for message in messages { write(message) }
            end(RPCStatus(.ok, ""))
        case .failure(let status):
            end(status)
        }
    }

    /// Writes one response message (headers first if not yet sent); `end` flushes.
    private func write(_ message: [UInt8]) {
        guard let context, state == .running else { return }
        writeHeaders(context)
        let framed = RPCMessageFraming.frame(message, allocator: context.channel.allocator)
        context.write(wrapOutboundOut(.data(.init(data: .byteBuffer(framed)))), promise: nil)
    }

    private func writeHeaders(_ context: ChannelHandlerContext) {
        guard !sentHeaders else { return }
        sentHeaders = true
        context.write(wrapOutboundOut(.headers(.init(headers: [":status": "200", "content-type": "application/grpc"]))), promise: nil)
    }

    /// Ends the call with `status`: trailers (a trailers-only response if nothing was sent);
    /// `acceptedEncoding` answers a refused compression with what the server reads.
    private func end(_ status: RPCStatus, acceptedEncoding: String? = nil) {
        guard state != .ended else { return }
        if state == .running { calls.end() }
        state = .ended
        deadline?.cancel()
        if status.code != .ok { task?.cancel() }
        guard let context else { return }
        var trailers: HPACKHeaders = sentHeaders ? [:] : [":status": "200", "content-type": "application/grpc"]
        trailers.add(name: "grpc-status", value: "\(status.code.rawValue)")
        if !status.message.isEmpty { trailers.add(name: "grpc-message", value: status.encodedMessage) }
        if let acceptedEncoding { trailers.add(name: "grpc-accept-encoding", value: acceptedEncoding) }
        sentHeaders = true
        context.writeAndFlush(wrapOutboundOut(.headers(.init(headers: trailers, endStream: true))), promise: nil)
        RPCMetrics.record(method, since: started, code: status.code)
        if status.code != .ok, status.code != .unimplemented {
            logger.debug("rpc ended", metadata: ["path": "\(path)", "status": "\(status)"])
        }
    }

    /// Answers an HTTP-level refusal (not a gRPC request) and ends the stream.
    private func refuse(httpStatus: String, _ status: RPCStatus) {
        state = .ended
        guard let context else { return }
        let headers: HPACKHeaders = [
            ":status": httpStatus, "content-type": "application/grpc",
            "grpc-status": "\(status.code.rawValue)", "grpc-message": status.encodedMessage,
        ]
        context.writeAndFlush(wrapOutboundOut(.headers(.init(headers: headers, endStream: true))), promise: nil)
    }

    /// The client went away: the running method is cancelled and its result will be dropped.
    private func cancel(_ reason: String) {
        switch state {
        case .running:
            calls.end()
            task?.cancel()
            RPCMetrics.record(method, since: started, code: .cancelled)
            logger.debug("rpc cancelled", metadata: ["path": "\(path)", "reason": "\(reason)"])
        case .awaitingHeaders, .receiving, .ended:
            break
        }
        state = .ended
        deadline?.cancel()
    }
}

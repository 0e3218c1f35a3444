import Foundation
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import SwiftProtobuf
@testable import SnapshotterAdapter

/// A minimal gRPC client on swift-nio-http2 for the tests: one connection, one HTTP/2 stream per
/// call, unary and server-streaming calls, failures thrown as `RPCStatus`. (containerd's gRPC-Go
/// client and Python's grpcio are the independent clients: Tests/containerd, Tests/rpc.)
final class RPCTestClient: Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    private let multiplexer: NIOHTTP2Handler.StreamMultiplexer

    private init(group: MultiThreadedEventLoopGroup, channel: any Channel, multiplexer: NIOHTTP2Handler.StreamMultiplexer) {
        self.group = group
        self.channel = channel
        self.multiplexer = multiplexer
    }

    static func connect(_ socketPath: String) async throws -> RPCTestClient {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // The HTTP/2 handler is in place before the first byte arrives (the server's SETTINGS).
        let (channel, multiplexer) = try await ClientBootstrap(group: group).connect(unixDomainSocketPath: socketPath) { channel in
            channel.eventLoop.makeCompletedFuture {
                let multiplexer = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                    mode: .client, connectionConfiguration: .init(), streamConfiguration: .init()
                ) { stream in stream.eventLoop.makeSucceededVoidFuture() }
                return (channel, multiplexer)
            }
        }
        return RPCTestClient(group: group, channel: channel, multiplexer: multiplexer)
    }

    func close() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }

    /// Calls `method` of the snapshots service; returns the response messages (all of them, or
    /// the first `limit`, after which the stream is reset: a client walking away).
    func call<Response: SwiftProtobuf.Message>(
        _ method: String, _ request: some SwiftProtobuf.Message, limit: Int? = nil, as: Response.Type = Response.self
    ) async throws -> [Response] {
        let bytes: [UInt8] = try request.serializedBytes()
        let promise = channel.eventLoop.makePromise(of: [[UInt8]].self)
        let stream = try await multiplexer.createStreamChannel { stream in
            stream.eventLoop.makeCompletedFuture { try stream.pipeline.syncOperations.addHandler(ResponseCollector(promise, limit: limit)) }
        }.get()
        let headers: HPACKHeaders = [
            ":method": "POST", ":scheme": "http", ":path": "/\(SnapshotsService.serviceName)/\(method)", ":authority": "localhost",
            "content-type": "application/grpc", "te": "trailers",
        ]
        let framed = RPCMessageFraming.frame(bytes)
        stream.write(HTTP2Frame.FramePayload.headers(.init(headers: headers)), promise: nil)
        stream.writeAndFlush(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(framed), endStream: true)), promise: nil)
        return try await withTaskCancellationHandler {
            try await promise.futureResult.get().map { try Response(serializedBytes: $0) }
        } onCancel: {
            stream.close(promise: nil)
        }
    }
}

/// Collects one call's response: messages, then the `grpc-status` trailers.
private final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload

    private let promise: EventLoopPromise<[[UInt8]]>
    private let limit: Int?
    private var buffer = ByteBuffer()
    private var messages: [[UInt8]] = []
    private var done = false

    init(_ promise: EventLoopPromise<[[UInt8]]>, limit: Int?) {
        self.promise = promise
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let headers):
            guard let code = headers.headers.first(name: "grpc-status") else {
                if let status = headers.headers.first(name: ":status"), status != "200" {
                    finish(.failure(RPCStatus(.unknown, "HTTP status \(status)")))
                }
                return
            }
            let message = headers.headers.first(name: "grpc-message")?.removingPercentEncoding ?? ""
            let status = RPCStatus(RPCStatus.Code(rawValue: Int(code) ?? 2) ?? .unknown, message)
            finish(status.code == .ok ? .success(messages) : .failure(status))
        case .data(let frame):
            guard case .byteBuffer(var bytes) = frame.data else { return }
            buffer.writeBuffer(&bytes)
            while buffer.readableBytes >= RPCMessageFraming.prefixLength, let length = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt32.self),
                  buffer.readableBytes >= RPCMessageFraming.prefixLength + Int(length) {
                buffer.moveReaderIndex(forwardBy: RPCMessageFraming.prefixLength)
                messages.append(Array(buffer.readBytes(length: Int(length))!))
                if let limit, messages.count >= limit {
                    finish(.success(messages))
                    context.close(promise: nil)
                    return
                }
            }
        case .rstStream(let code):
            finish(.failure(RPCStatus(.cancelled, "the server reset the stream: \(code)")))
        default:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(RPCStatus(.unavailable, "stream error: \(error)")))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(RPCStatus(.unavailable, "the stream closed before its status")))
    }

    private func finish(_ result: Result<[[UInt8]], RPCStatus>) {
        guard !done else { return }
        done = true
        switch result {
        case .success(let messages): promise.succeed(messages)
        case .failure(let status): promise.fail(status)
        }
    }
}

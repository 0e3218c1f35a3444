import NIOCore

/// Answers the client's HTTP/2 PING frames before they reach NIOHTTP2.
///
/// containerd talks to proxy snapshotters with gRPC-Go, whose bandwidth estimator sends a PING
/// with nearly every response it reads. NIOHTTP2 counts PINGs as control frames and, past 200 in
/// 30 s (not configurable through grpc-swift-nio-transport), closes the connection with GOAWAY
/// ENHANCE_YOUR_CALM and last-stream-id 0; gRPC-Go then transparently retries calls the server
/// already ran, so a busy containerd sees "already exists" for its own Prepare. PINGs carry no
/// gRPC meaning, so this handler, first in the connection's pipeline, acknowledges them itself
/// and passes every other frame through untouched.
public final class ClientPingResponder: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    public init() {}

    /// The client connection preface ("PRI * HTTP/2.0...") precedes the first frame.
    private var prefaceRemaining = 24
    private var pending: ByteBuffer?

    private static let frameHeaderLength = 9
    private static let pingType: UInt8 = 0x6
    private static let ackFlag: UInt8 = 0x1

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var input = unwrapInboundIn(data)
        if prefaceRemaining > 0 {
            let count = min(prefaceRemaining, input.readableBytes)
            prefaceRemaining -= count
            context.fireChannelRead(wrapInboundOut(input.readSlice(length: count)!))
            guard input.readableBytes > 0 else { return }
        }
        if var earlier = pending {
            earlier.writeBuffer(&input)
            input = earlier
            pending = nil
        }
        var passthrough = context.channel.allocator.buffer(capacity: input.readableBytes)
        while input.readableBytes >= Self.frameHeaderLength {
            let start = input.readerIndex
            let length = Int(input.getInteger(at: start, as: UInt32.self)! >> 8)
            guard input.readableBytes >= Self.frameHeaderLength + length else { break }
            var frame = input.readSlice(length: Self.frameHeaderLength + length)!
            let type = frame.getInteger(at: frame.readerIndex + 3, as: UInt8.self)!
            let flags = frame.getInteger(at: frame.readerIndex + 4, as: UInt8.self)!
            if type == Self.pingType, flags & Self.ackFlag == 0, length == 8 {
                var ack = context.channel.allocator.buffer(capacity: frame.readableBytes)
                ack.writeBuffer(&frame)
                ack.setInteger(flags | Self.ackFlag, at: ack.readerIndex + 4)
                context.writeAndFlush(wrapOutboundOut(ack), promise: nil)
            } else {
                passthrough.writeBuffer(&frame)
            }
        }
        if input.readableBytes > 0 { pending = input }
        if passthrough.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(passthrough)) }
    }
}

import NIOCore
import NIOHPACK
import NIOHTTP2

/// One HTTP/2 stream of the h2 floor: reads the request (headers, then the framed message), then
/// answers `Stat` with the constant framed reply and `grpc-status: 0`, anything else with
/// `grpc-status: 12` (UNIMPLEMENTED) in a trailers-only response.
final class StatResponder: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private static let statPath = "/containerd.services.snapshots.v1.Snapshots/Stat"
    private let reply: ByteBuffer
    private var path = ""

    init(reply: ByteBuffer) { self.reply = reply }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let headers):
            path = headers.headers.first(name: ":path") ?? ""
            if headers.endStream { respond(context) }
        case .data(let frame):
            if frame.endStream { respond(context) }
        default:
            break
        }
    }

    private func respond(_ context: ChannelHandlerContext) {
        guard path == Self.statPath else {
            let trailersOnly: HPACKHeaders = [":status": "200", "content-type": "application/grpc", "grpc-status": "12"]
            context.writeAndFlush(wrapOutboundOut(.headers(.init(headers: trailersOnly, endStream: true))), promise: nil)
            return
        }
        let headers: HPACKHeaders = [":status": "200", "content-type": "application/grpc"]
        context.write(wrapOutboundOut(.headers(.init(headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.data(.init(data: .byteBuffer(reply)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.headers(.init(headers: ["grpc-status": "0"], endStream: true))), promise: nil)
    }
}

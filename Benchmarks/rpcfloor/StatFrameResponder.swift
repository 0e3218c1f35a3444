import NIOCore
import NIOHPACK
import NIOHTTP2

/// The h2conn floor: like `StatResponder`, but on the connection's frames themselves (NIOHTTP2
/// without a stream multiplexer: no child channel per call), flushing once per read burst.
final class StatFrameResponder: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private static let statPath = "/containerd.services.snapshots.v1.Snapshots/Stat"
    private let reply: ByteBuffer
    private var paths: [HTTP2StreamID: String] = [:]
    private var pending = false
    /// Without a multiplexer, the connection's inbound window is ours to open again.
    private var consumed = 0

    init(reply: ByteBuffer) { self.reply = reply }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .headers(let headers):
            paths[frame.streamID] = headers.headers.first(name: ":path") ?? ""
            if headers.endStream { respond(frame.streamID, context) }
        case .data(let data):
            consumed += data.data.readableBytes
            if data.endStream { respond(frame.streamID, context) }
        case .rstStream:
            paths[frame.streamID] = nil
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if consumed > 0 {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: consumed))), promise: nil)
            consumed = 0
            pending = true
        }
        if pending {
            pending = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    private func respond(_ stream: HTTP2StreamID, _ context: ChannelHandlerContext) {
        let path = paths.removeValue(forKey: stream)
        pending = true
        guard path == Self.statPath else {
            let trailersOnly: HPACKHeaders = [":status": "200", "content-type": "application/grpc", "grpc-status": "12"]
            context.write(wrapOutboundOut(HTTP2Frame(streamID: stream, payload: .headers(.init(headers: trailersOnly, endStream: true)))), promise: nil)
            return
        }
        let headers: HPACKHeaders = [":status": "200", "content-type": "application/grpc"]
        context.write(wrapOutboundOut(HTTP2Frame(streamID: stream, payload: .headers(.init(headers: headers)))), promise: nil)
        context.write(wrapOutboundOut(HTTP2Frame(streamID: stream, payload: .data(.init(data: .byteBuffer(reply))))), promise: nil)
        context.write(wrapOutboundOut(HTTP2Frame(streamID: stream, payload: .headers(.init(headers: ["grpc-status": "0"], endStream: true)))), promise: nil)
    }
}

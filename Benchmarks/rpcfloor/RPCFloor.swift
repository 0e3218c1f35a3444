import NIOCore
import NIOHTTP2
import NIOPosix
import SnapshotterAdapter

/// The floor under the containerd snapshots API's per-call cost (issue 11's measurements): the
/// `Stat` RPC answered with a constant reply, no engine behind it, by
///   h2conn SOCKET [THREADS] the same on the connection's frames (no child channel per stream,
///                          one flush per read burst);
///   h2 SOCKET [THREADS]    a bare responder on swift-nio-http2: h2c, 5-byte gRPC message framing,
///                          `grpc-status` trailers; every other method UNIMPLEMENTED. A throwaway
///                          prototype to measure with, not a server to run.
/// THREADS: event-loop threads (default 1). Serves until killed.
@main
enum RPCFloor {
    static func main() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count >= 3, ["h2", "h2conn"].contains(arguments[1]) else {
            print("usage: rpcfloor h2|h2conn SOCKET [THREADS]")
            return
        }
        let socket = arguments[2]
        let threads = arguments.count > 3 ? Int(arguments[3]) ?? 1 : 1
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        try await serveHTTP2(socket, group, perStream: arguments[1] == "h2")
    }

    /// The constant reply: what a Stat of a committed snapshot answers.
    static var reply: Containerd_Services_Snapshots_V1_StatSnapshotResponse {
        var response = Containerd_Services_Snapshots_V1_StatSnapshotResponse()
        response.info.name = "stat-probe"
        response.info.kind = .committed
        response.info.labels = ["containerd.io/snapshot.ref": "sha256:0123456789abcdef"]
        response.info.createdAt = .init(seconds: 1_700_000_000, nanos: 0)
        response.info.updatedAt = .init(seconds: 1_700_000_000, nanos: 0)
        return response
    }

    static func serveHTTP2(_ socket: String, _ group: MultiThreadedEventLoopGroup, perStream: Bool) async throws {
        let message: [UInt8] = try reply.serializedBytes()
        var framed = ByteBuffer()
        framed.writeInteger(UInt8(0))
        framed.writeInteger(UInt32(message.count))
        framed.writeBytes(message)
        let reply = framed
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(ClientPingResponder())
                    guard perStream else {
                        try pipeline.addHandler(NIOHTTP2Handler(mode: .server))
                        try pipeline.addHandler(StatFrameResponder(reply: reply))
                        return
                    }
                    _ = try pipeline.configureHTTP2Pipeline(mode: .server, connectionConfiguration: .init(), streamConfiguration: .init()) { stream in
                        stream.eventLoop.makeCompletedFuture { try stream.pipeline.syncOperations.addHandler(StatResponder(reply: reply)) }
                    }
                }
            }
            .bind(unixDomainSocketPath: socket, cleanupExistingSocketFile: true).get()
        try await channel.closeFuture.get()
    }
}

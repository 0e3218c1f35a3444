import NIOCore
import SwiftProtobuf

/// One method of a service: decodes its request message, runs, and encodes its answer (one
/// message for a unary method, any number for a server-streaming one; the snapshots service needs
/// no other kinds).
///
/// A method answers in one of two places: `now`, on the connection's event loop, for reads that
/// never block nor wait (no thread hop at all), or `run`, on Swift's concurrency pool, for calls
/// that do I/O. `now` may decline (nil) and leave the call to `run`.
struct RPCRoute: Sendable {
    typealias Messages = [[UInt8]]

    let now: (@Sendable (_ request: ByteBuffer) throws -> Messages?)?
    let run: (@Sendable (_ request: ByteBuffer) async throws -> Messages)?

    /// A unary method run off the event loop.
    static func unary<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ body: @escaping @Sendable (Request) async throws -> Response
    ) -> RPCRoute {
        RPCRoute(now: nil, run: { bytes in [try await body(try decode(Request.self, bytes)).serializedBytes()] })
    }

    /// A unary method answered on the event loop when `now` can (a store read); nil hands the call
    /// to `body`.
    static func unary<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        now: @escaping @Sendable (Request) throws -> Response?, _ body: @escaping @Sendable (Request) async throws -> Response
    ) -> RPCRoute {
        RPCRoute(
            now: { bytes in try now(try decode(Request.self, bytes)).map { [try $0.serializedBytes()] } },
            run: { bytes in [try await body(try decode(Request.self, bytes)).serializedBytes()] })
    }

    /// A unary method that is always a store read, answered on the event loop.
    static func unaryNow<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ now: @escaping @Sendable (Request) throws -> Response
    ) -> RPCRoute {
        RPCRoute(now: { bytes in [try now(try decode(Request.self, bytes)).serializedBytes()] }, run: nil)
    }

    /// A server-streaming method whose responses come from one store read, answered on the
    /// event loop.
    static func serverStreamingNow<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ now: @escaping @Sendable (Request) throws -> [Response]
    ) -> RPCRoute {
        RPCRoute(now: { bytes in try now(try decode(Request.self, bytes)).map { try $0.serializedBytes() } }, run: nil)
    }

    private static func decode<Request: SwiftProtobuf.Message>(_ type: Request.Type, _ bytes: ByteBuffer) throws -> Request {
        do {
            return try Request(serializedBytes: Array(bytes.readableBytesView))
        } catch {
            throw RPCStatus(.internalError, "cannot decode the request as \(Request.protoMessageName): \(error)")
        }
    }
}

/// A service's methods by HTTP/2 `:path` ("/package.Service/Method").
struct RPCRoutes: Sendable {
    private var routes: [String: RPCRoute] = [:]

    init(service: String, _ methods: [String: RPCRoute]) {
        for (name, route) in methods { routes["/\(service)/\(name)"] = route }
    }

    subscript(path: String) -> RPCRoute? { routes[path] }
}

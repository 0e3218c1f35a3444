/// A gRPC status: the code and message a call ends with, sent as `grpc-status` and `grpc-message`
/// trailers.
public struct RPCStatus: Error, Sendable, Equatable, CustomStringConvertible {
    /// The codes of the gRPC status code table.
    public enum Code: Int, Sendable {
        case ok = 0, cancelled, unknown, invalidArgument, deadlineExceeded, notFound, alreadyExists, permissionDenied,
             resourceExhausted, failedPrecondition, aborted, outOfRange, unimplemented, internalError, unavailable, dataLoss,
             unauthenticated
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code) (\(code.rawValue)): \(message)" }

    /// `message` as the `grpc-message` value: UTF-8, with bytes outside printable ASCII and `%`
    /// percent-encoded.
    var encodedMessage: String {
        var encoded = ""
        encoded.reserveCapacity(message.utf8.count)
        for byte in message.utf8 {
            if byte >= 0x20, byte <= 0x7e, byte != UInt8(ascii: "%") {
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = Array("0123456789ABCDEF".utf8)
                encoded.unicodeScalars.append("%")
                encoded.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
                encoded.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 0xf)]))
            }
        }
        return encoded
    }
}

/// Errors that know their gRPC status (the engine's errors: `RPCErrorMapping.swift`).
public protocol RPCStatusConvertible: Error {
    var rpcStatus: RPCStatus { get }
}

import GRPCCore
import StorageCore

/// The one mapping from engine errors to the gRPC codes containerd's errdefs understands.
extension StorageError: RPCErrorConvertible {
    public var rpcErrorCode: RPCError.Code {
        switch code {
        case .notFound: .notFound
        case .alreadyExists: .alreadyExists
        case .failedPrecondition, .busy: .failedPrecondition
        case .invalidArgument: .invalidArgument
        case .unavailable: .unavailable
        case .noSpace: .resourceExhausted
        default: .internalError
        }
    }

    public var rpcErrorMessage: String { description }
}

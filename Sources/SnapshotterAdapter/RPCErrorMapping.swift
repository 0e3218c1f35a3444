import StorageCore

/// The one mapping from engine errors to the gRPC codes containerd's errdefs understands.
extension StorageError: RPCStatusConvertible {
    public var rpcStatus: RPCStatus {
        let code: RPCStatus.Code = switch code {
        case .notFound: .notFound
        case .alreadyExists: .alreadyExists
        case .failedPrecondition, .busy: .failedPrecondition
        case .invalidArgument: .invalidArgument
        case .unavailable: .unavailable
        case .noSpace: .resourceExhausted
        default: .internalError
        }
        return RPCStatus(code, description)
    }
}

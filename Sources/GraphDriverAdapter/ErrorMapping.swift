import CKataBlockDriver
import StorageCore

/// The one mapping from engine errors to the C ABI's status codes (which the Go driver maps to
/// containers/storage's errors), with the engine's message.
enum ErrorMapping {
    static func status(of error: StorageError) -> Int32 {
        switch error.code {
        case .notFound: KBD_ENOTFOUND
        case .alreadyExists: KBD_EEXISTS
        case .invalidArgument: KBD_EINVALID
        case .failedPrecondition: KBD_EPRECONDITION
        case .busy: KBD_EBUSY
        case .noSpace: KBD_ENOSPACE
        case .unavailable: KBD_EUNAVAILABLE
        default: KBD_EINTERNAL
        }
    }

    /// The message for people: what failed, what would help, and the underlying cause.
    static func message(of error: StorageError) -> String {
        var text = error.message
        if let remedy = error.remedy { text += "; \(remedy)" }
        if let cause = error.cause { text += " (\(cause))" }
        return text
    }
}

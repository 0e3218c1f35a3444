/// An error from the storage engine: a stable code for frontends to map, a message for people, and the cause.
public struct StorageError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is; frontends map codes to gRPC status or errno in one place each.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The snapshot, layer, device or pool does not exist.
        public static let notFound = Code("not found")
        /// A snapshot or layer with that name already exists.
        public static let alreadyExists = Code("already exists")
        /// The call is valid but the current state forbids it (wrong kind, has children, busy).
        public static let failedPrecondition = Code("failed precondition")
        /// The arguments themselves are malformed.
        public static let invalidArgument = Code("invalid argument")
        /// A resource the call needs is missing or not reachable right now (kernel feature, pool).
        public static let unavailable = Code("unavailable")
        /// The pool or metadata store has no room for the change.
        public static let noSpace = Code("no space")
        /// A device is in use and cannot be changed now.
        public static let busy = Code("busy")
        /// Stored state is inconsistent or a system call failed unexpectedly.
        public static let `internal` = Code("internal")
    }

    public var code: Code
    public var message: String
    public var cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        if let cause { return "\(code): \(message) (\(cause))" }
        return "\(code): \(message)"
    }
}

extension StorageError {
    static func notFound(_ what: String, _ name: String) -> StorageError {
        StorageError(.notFound, "\(what) \(quoted(name)) does not exist")
    }

    /// Shortens very long keys in messages so logs stay readable.
    static func quoted(_ name: String) -> String {
        let limit = 120
        if name.utf8.count <= limit { return "\"\(name)\"" }
        return "\"\(name.prefix(limit))…\" (\(name.utf8.count) bytes)"
    }
}

/// An error from the storage engine: a stable code for frontends to map, a message for people in
/// the engine's own terms, what would help (a remedy each frontend words for its users), and the cause.
public struct StorageError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is; frontends map codes to gRPC status or errno in one place each.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The snapshot, layer, device or pool does not exist.
        public static let notFound = Code("not found")
        /// A snapshot or layer with that name already exists.
        public static let alreadyExists = Code("already exists")
        /// The call is valid but the current state forbids it (wrong kind, has children).
        public static let failedPrecondition = Code("failed precondition")
        /// The arguments themselves are malformed.
        public static let invalidArgument = Code("invalid argument")
        /// A resource the call needs is missing or not reachable right now (kernel feature, pool,
        /// another caller's operation that did not finish in time).
        public static let unavailable = Code("unavailable")
        /// The pool or metadata store has no room for the change.
        public static let noSpace = Code("no space")
        /// A device or snapshot is in use (mounted, open) and cannot be changed now.
        public static let busy = Code("busy")
        /// Stored state is inconsistent or a system call failed unexpectedly.
        public static let `internal` = Code("internal")
        /// Inside the engine only: a device is in another caller's operation; the caller waits.
        static let inFlight = Code("in flight")
    }

    /// What the user can do about an error, named by the engine and worded by each frontend.
    public struct Remedy: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        /// Neutral wording, for frontends with nothing more specific to say.
        public let description: String
        init(_ name: String, _ description: String) {
            self.name = name
            self.description = description
        }

        /// Check the pool for inconsistencies (and repair what the check reports).
        public static let checkPool = Remedy("check-pool", "check the pool for inconsistencies")
        /// There is no pool in the state directory: create one.
        public static let createPool = Remedy("create-pool", "create a pool in the state directory")
        /// The store was written by a newer release.
        public static let upgrade = Remedy("upgrade", "use the release that wrote the store, or a newer one")
        /// Try again in a moment.
        public static let retry = Remedy("retry", "retry in a moment")
        /// Free space: remove snapshots, or grow the pool.
        public static let freeSpace = Remedy("free-space", "remove snapshots or grow the pool")
        /// Unmount the snapshot (or stop what uses it) first.
        public static let release = Remedy("release", "unmount it or stop what uses it first")
        /// Install what the host lacks.
        public static let installDependencies = Remedy("install-dependencies", "install the missing tool or kernel module")
        /// Choose another name, key or path.
        public static let chooseAnother = Remedy("choose-another", "choose another name")
        /// The input (a layer tar) is malformed or hostile: rebuild it, or fetch it again.
        public static let checkInput = Remedy("check-input", "the input is malformed or unsafe; rebuild it or fetch it again")
    }

    public var code: Code
    public var message: String
    public var remedy: Remedy?
    public var cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, remedy: Remedy? = nil, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.remedy = remedy
        self.cause = cause
    }

    public var description: String {
        var text = "\(code): \(message)"
        if let remedy { text += "; \(remedy)" }
        if let cause { text += " (\(cause))" }
        return text
    }
}

extension StorageError {
    static func notFound(_ what: String, _ name: String) -> StorageError {
        StorageError(.notFound, "\(what) \(quoted(name)) does not exist")
    }

    /// A stored record contradicts another: the store needs checking.
    static func inconsistent(_ message: String) -> StorageError {
        StorageError(.internal, message, remedy: .checkPool)
    }

    /// Shortens very long keys in messages so logs stay readable.
    static func quoted(_ name: String) -> String {
        let limit = 120
        if name.utf8.count <= limit { return "\"\(name)\"" }
        return "\"\(name.prefix(limit))…\" (\(name.utf8.count) bytes)"
    }
}

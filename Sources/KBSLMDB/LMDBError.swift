import CLMDB

/// A failed LMDB call: the operation and LMDB's return code, classified.
public struct LMDBError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The map is full: the store needs a larger map size.
        case mapFull
        /// Every reader slot is taken.
        case readersFull
        /// The file is damaged or written by an incompatible LMDB.
        case damaged
        /// Anything else (an errno from the filesystem, a bug).
        case other
    }

    public let operation: String
    public let code: Int32

    @inlinable
    init(operation: String, code: Int32) {
        self.operation = operation
        self.code = code
    }

    public var kind: Kind {
        switch code {
        case MDB_MAP_FULL: .mapFull
        case MDB_READERS_FULL: .readersFull
        case MDB_VERSION_MISMATCH, MDB_INVALID, MDB_CORRUPTED, MDB_PAGE_NOTFOUND: .damaged
        default: .other
        }
    }

    public var description: String { "\(operation): \(String(cString: mdb_strerror(code)))" }
}

/// An error type LMDB failures can become, so scoped transactions throw the caller's own errors.
public protocol LMDBErrorConvertible: Error {
    init(lmdb: LMDBError)
}

extension LMDBError: LMDBErrorConvertible {
    public init(lmdb: LMDBError) { self = lmdb }
}

/// The one funnel for LMDB return codes.
@inlinable @inline(__always)
func check(_ rc: Int32, _ operation: @autoclosure () -> String) throws(LMDBError) {
    if rc != 0 { throw LMDBError(operation: operation(), code: rc) }
}

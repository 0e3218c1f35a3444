import CArchive

/// A libarchive call that failed, with libarchive's own message.
public struct ArchiveError: Error, Sendable, CustomStringConvertible {
    public let operation: String
    public let message: String
    /// The errno libarchive recorded, when it recorded one.
    public let errno: Int32

    public var description: String { "\(operation): \(message)" }

    public init(operation: String, message: String, errno: Int32 = 0) {
        self.operation = operation
        self.message = message
        self.errno = errno
    }
}

/// The one funnel from libarchive's return codes: OK, and warnings (which libarchive also uses
/// for "this attribute could not be read"), go on; anything worse throws with its message.
@discardableResult
func check(_ rc: Int32, _ archive: OpaquePointer?, _ operation: @autoclosure () -> String) throws(ArchiveError) -> Int32 {
    guard rc < ARCHIVE_WARN else { return rc }
    let message = archive.flatMap { archive_error_string($0) }.map { String(cString: $0) } ?? "libarchive error \(rc)"
    throw ArchiveError(operation: operation(), message: message, errno: archive.map { archive_errno($0) } ?? 0)
}

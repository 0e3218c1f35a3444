import KBSSystem
import Testing
@testable import StorageCore

@Suite("System errors as engine errors")
struct ErrorMappingTests {
    @Test("errno decides the code; the message says what the engine was doing", arguments: [
        (Errno.noSuchFile, StorageError.Code.notFound), (.exists, .alreadyExists), (.noSpace, .noSpace), (.busy, .busy),
        (.invalid, .invalidArgument), (.notSupported, .unavailable), (.notPermitted, .unavailable), (.io, .internal),
    ])
    func codes(_ errno: Errno, _ code: StorageError.Code) {
        let error = StorageError(SystemCallError(operation: "open(/x)", errno: errno), "cannot attach /x")
        #expect(error.code == code)
        #expect(error.message == "cannot attach /x")
        #expect("\(error)".contains("open(/x)"))
    }

    @Test("no space and busy say what would help")
    func remedies() {
        #expect(StorageError(SystemCallError(operation: "x", errno: .noSpace), "m").remedy == .freeSpace)
        #expect(StorageError(SystemCallError(operation: "x", errno: .busy), "m").remedy == .release)
    }
}

import Testing
@testable import SnapshotterAdapter
@testable import StorageCore

@Suite("containerd filter syntax")
struct FilterSyntaxTests {
    let info = SnapshotInfo(name: "sha256:abc", parent: "base", kind: .committed,
                            labels: ["containerd.io/gc.root": "x", "l": "2"])

    @Test("selectors, quoting, operators and alternatives", arguments: [
        (["kind==committed"], true),
        (["kind==active"], false),
        (["labels.\"containerd.io/gc.root\""], true),
        (["labels.\"containerd.io/gc.root\"==x,kind==committed"], true),
        (["labels.l==2"], true),
        (["labels.l!=2"], false),
        (["labels.missing"], false),
        (["labels.missing!=\"\""], false),
        (["parent!=\"\""], true),
        (["name~=^sha256:"], true),
        (["name~=^sha512:"], false),
        (["name==nope", "parent==base"], true),
        (["name == sha256:abc"], true),
        ([], true),
    ])
    func matches(_ filters: [String], _ expected: Bool) throws {
        #expect(try FilterSyntax.parse(filters).matches(info) == expected)
    }

    @Test("malformed filters are invalid arguments", arguments: [
        "kind==", "labels.\"open", "==x", "kind=x", "name~=([", "unknown==1", "labels", "kind==a,,",
    ])
    func malformed(_ text: String) {
        #expect(throws: StorageError.self) { try FilterSyntax.parse([text]) }
    }

    @Test("errors map to the codes containerd's errdefs expects")
    func errorMapping() {
        let cases: [(StorageError.Code, RPCStatus.Code)] = [
            (.notFound, .notFound), (.alreadyExists, .alreadyExists), (.failedPrecondition, .failedPrecondition),
            (.busy, .failedPrecondition), (.invalidArgument, .invalidArgument), (.unavailable, .unavailable),
            (.noSpace, .resourceExhausted), (.internal, .internalError),
        ]
        for (code, expected) in cases {
            #expect(StorageError(code, "m").rpcStatus.code == expected)
        }
    }
}

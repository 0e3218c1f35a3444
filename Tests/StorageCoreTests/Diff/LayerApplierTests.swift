import Foundation
import Glibc
import KBSArchive
import KBSSystem
import Testing
@testable import StorageCore

/// ApplyDiff's core: layer tars written into a directory tree, with OCI whiteouts, and hostile
/// tars refused without a byte written outside the tree.
@Suite("Layer applier")
struct LayerApplierTests {
    /// A scratch directory holding `root` (the layer) and a sentinel beside it.
    struct Sandbox {
        let outer: String
        var root: String { "\(outer)/root" }
        var sentinel: String { "\(outer)/sentinel" }

        init() throws {
            outer = "\(NSTemporaryDirectory())kbs-apply-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: "\(outer)/root", withIntermediateDirectories: true)
            try Data("untouched".utf8).write(to: URL(fileURLWithPath: "\(outer)/sentinel"))
        }

        func remove() { try? FileManager.default.removeItem(atPath: outer) }

        /// Writes `members` as a tar and applies it.
        @discardableResult
        func apply(_ members: [(ArchiveEntry, [UInt8])], options: ApplyOptions = .init(), truncateTo: Int? = nil) throws -> ApplyResult {
            let fd = try LayerTar.write(members, to: "\(outer)/layer.tar", truncateTo: truncateTo)
            defer { close(fd) }
            return try LayerApplier.apply(tar: fd, to: root, options: options)
        }

        /// Nothing but the root and the unchanged sentinel (and the tar) beside the root.
        func outsideUntouched() throws -> Bool {
            let names = Set(try FileManager.default.contentsOfDirectory(atPath: outer))
            let sentinelText = try String(contentsOfFile: sentinel, encoding: .utf8)
            return names.subtracting(["layer.tar"]) == ["root", "sentinel"] && sentinelText == "untouched"
        }
    }

    static func lstatOf(_ path: String) -> stat? {
        var st = stat()
        return lstat(path, &st) == 0 ? st : nil
    }

    @Test("members of every kind keep their data, owner, mode, attributes, links and times")
    func everyKind() throws {
        let box = try Sandbox()
        defer { box.remove() }
        var withAttribute = LayerTar.file("etc/conf", "x=1\n", mode: 0o4750, uid: 1234, gid: 5678)
        withAttribute.0.attributes = [.init(name: "user.kbs", value: Array("v".utf8))]
        let result = try box.apply([
            LayerTar.directory("./"), LayerTar.directory("etc/", mode: 0o750), withAttribute,
            LayerTar.link("etc/conf.link", to: "conf"), LayerTar.link("etc/conf.hard", to: "etc/conf", hard: true),
            (ArchiveEntry(path: "dev/null", kind: .characterDevice, permissions: 0o666, deviceMajor: 1, deviceMinor: 3), []),
            (ArchiveEntry(path: "run/fifo", kind: .fifo, permissions: 0o600), []),
            LayerTar.file("deep/a/b/c/file", "deep"),
        ])
        #expect(result.members == 8)
        #expect(result.dataBytes == 8)
        #expect(try String(contentsOfFile: "\(box.root)/etc/conf", encoding: .utf8) == "x=1\n")
        let conf = try #require(Self.lstatOf("\(box.root)/etc/conf"))
        #expect(conf.st_mode & 0o7777 == 0o4750)
        #expect(conf.st_uid == 1234 && conf.st_gid == 5678)
        #expect(conf.st_mtim.tv_sec == 1_600_000_000)
        #expect(conf.st_nlink == 2)
        #expect(try Directory.open("\(box.root)/etc").attribute("conf", key: "user.kbs") == Array("v".utf8))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(box.root)/etc/conf.link") == "conf")
        let etc = try #require(Self.lstatOf("\(box.root)/etc"))
        #expect(etc.st_mode & 0o7777 == 0o750 && etc.st_mtim.tv_sec == 1_500_000_000)
        let null = try #require(Self.lstatOf("\(box.root)/dev/null"))
        #expect(null.st_mode & S_IFMT == S_IFCHR && null.st_rdev == 0x103)
        #expect(try #require(Self.lstatOf("\(box.root)/run/fifo")).st_mode & S_IFMT == S_IFIFO)
        #expect(try String(contentsOfFile: "\(box.root)/deep/a/b/c/file", encoding: .utf8) == "deep")
        #expect(try box.outsideUntouched())
    }

    @Test("whiteouts delete from the layers below; an opaque directory keeps only this layer's entries")
    func whiteouts() throws {
        let box = try Sandbox()
        defer { box.remove() }
        try box.apply([LayerTar.file("gone", "1"), LayerTar.directory("d"), LayerTar.file("d/x", "x"), LayerTar.file("d/y", "y"),
                       LayerTar.directory("d/sub"), LayerTar.file("d/sub/z", "z"), LayerTar.directory("keep"), LayerTar.file("keep/k", "k")])
        try box.apply([LayerTar.file("d/new-before", "b"), LayerTar.file(".wh.gone", ""), LayerTar.file("d/.wh..wh..opq", ""),
                       LayerTar.file("d/new-after", "a"), LayerTar.file("keep/.wh.absent", "")])
        let fm = FileManager.default
        #expect(!fm.fileExists(atPath: "\(box.root)/gone"))
        #expect(Set(try fm.contentsOfDirectory(atPath: "\(box.root)/d")) == ["new-before", "new-after"])
        #expect(try fm.contentsOfDirectory(atPath: "\(box.root)/keep") == ["k"])
        #expect(try box.outsideUntouched())
    }

    @Test("a member replaces what is there: a file over a directory, a directory over a file")
    func replaces() throws {
        let box = try Sandbox()
        defer { box.remove() }
        try box.apply([LayerTar.directory("a"), LayerTar.file("a/inner", "i"), LayerTar.file("b", "file")])
        try box.apply([LayerTar.file("a", "now a file"), LayerTar.directory("b"), LayerTar.file("b/c", "c")])
        #expect(try String(contentsOfFile: "\(box.root)/a", encoding: .utf8) == "now a file")
        #expect(try String(contentsOfFile: "\(box.root)/b/c", encoding: .utf8) == "c")
    }

    @Test("hostile tars are refused, or resolved inside the layer, and nothing outside it is written", arguments: [
        ("a name with ..", [LayerTar.file("../escaped", "x")]),
        ("an absolute name", [LayerTar.file("/escaped", "x")]),
        ("a name with .. deeper down", [LayerTar.directory("a"), LayerTar.file("a/../../escaped", "x")]),
        ("a hard link to a name with ..", [LayerTar.link("h", to: "../sentinel", hard: true)]),
        ("a hard link to an absolute name", [LayerTar.link("h", to: "/etc/passwd", hard: true)]),
        ("a hard link through a symbolic link out", [LayerTar.link("s", to: "/etc"), LayerTar.link("h", to: "s/passwd", hard: true)]),
        ("a whiteout of ..", [LayerTar.directory("a"), LayerTar.file("a/.wh..", "")]),
        ("a whiteout of the parent's parent", [LayerTar.file(".wh...", "")]),
    ] as [(String, [(ArchiveEntry, [UInt8])])])
    func hostileRefused(_ what: String, _ members: [(ArchiveEntry, [UInt8])]) throws {
        let box = try Sandbox()
        defer { box.remove() }
        let error = #expect(throws: StorageError.self, "\(what) is refused") { try box.apply(members) }
        #expect(error?.code == .invalidArgument, "\(what): \(String(describing: error))")
        #expect(try box.outsideUntouched(), "\(what) wrote outside the layer")
    }

    @Test("symbolic links on the way resolve inside the layer, as if it were the root", arguments: [
        ("an absolute link", "/"), ("a relative link climbing out", "../../../.."), ("a link to the outer directory", "..")
    ])
    func symlinkedParentStaysInside(_ what: String, _ target: String) throws {
        let box = try Sandbox()
        defer { box.remove() }
        try box.apply([LayerTar.link("up", to: target), LayerTar.file("up/sentinel", "overwritten?")])
        #expect(try box.outsideUntouched(), "\(what): a file written through it landed outside")
        #expect(try String(contentsOfFile: "\(box.root)/sentinel", encoding: .utf8) == "overwritten?")
    }

    @Test("a truncated stream and an over-long name are refused with what is wrong")
    func malformed() throws {
        let box = try Sandbox()
        defer { box.remove() }
        let big = LayerTar.file("big", String(repeating: "x", count: 100_000))
        let error = #expect(throws: StorageError.self) { try box.apply([big], truncateTo: 20_000) }
        #expect(error?.code == .invalidArgument || error?.message.contains("big") == true)
        let long = #expect(throws: StorageError.self) { try box.apply([LayerTar.file(String(repeating: "n/", count: 2100) + "f", "x")]) }
        #expect(long?.code == .invalidArgument)
        #expect(try box.outsideUntouched())
    }

    @Test("ForceMask records the real owner and mode in the override attribute")
    func forceMask() throws {
        let box = try Sandbox()
        defer { box.remove() }
        try box.apply([LayerTar.file("f", "x", mode: 0o640, uid: 7, gid: 8)], options: .init(forceMask: 0o755))
        #expect(try #require(Self.lstatOf("\(box.root)/f")).st_mode & 0o7777 == 0o755)
        #expect(try Directory.open(box.root).attribute("f", key: LayerApplier.overrideAttribute) == Array("7:8:0640".utf8))
    }
}

import Foundation
import Glibc
import Testing
@testable import StorageCore

/// Changes and Diff: what a layer changed against its parent, and the tar of it, which applied
/// onto the parent gives the layer back.
@Suite("Layer diff")
struct LayerDiffTests {
    private static func run(_ tool: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw POSIXError(.EIO) }
    }

    private static func apply(_ members: [LayerTar.Member], to directory: String, scratch: String) throws {
        let fd = try LayerTar.write(members, to: "\(scratch)/\(UUID().uuidString).tar")
        defer { close(fd) }
        _ = try LayerApplier.apply(tar: fd, to: directory, options: .init())
    }

    @Test("changes of a layer against its parent, and its tar applied onto the parent reproduces it")
    func roundTrip() throws {
        let outer = "\(NSTemporaryDirectory())kbs-diff-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: outer) }
        let parent = "\(outer)/parent", layer = "\(outer)/layer", again = "\(outer)/again"
        for directory in [parent] { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        var linked = LayerTar.link("usr/bin/tool-alias", to: "usr/bin/tool", hard: true)
        linked.0.modified = 1_600_000_000_000_000_000
        try Self.apply([LayerTar.directory("etc"), LayerTar.file("etc/a", "a"), LayerTar.file("etc/b", "b"),
                        LayerTar.directory("usr"), LayerTar.directory("usr/bin"), LayerTar.file("usr/bin/tool", "v1", mode: 0o755),
                        LayerTar.directory("var"), LayerTar.file("var/log", "log")], to: parent, scratch: outer)
        try Self.run("/bin/cp", ["-a", parent, layer])
        // The layer: a deletion, an addition, a rewritten file with a second name, an emptied directory.
        var tool = LayerTar.file("usr/bin/tool", "version 2", mode: 0o755)
        tool.0.modified = 1_700_000_000_000_000_000
        try Self.apply([LayerTar.file("etc/.wh.a", ""), LayerTar.file("etc/c", "c"), tool, linked,
                        LayerTar.file("var/.wh..wh..opq", ""), LayerTar.link("etc/link", to: "../usr/bin/tool")], to: layer, scratch: outer)
        let changes = try LayerComparison.changes(layer: layer, parent: parent)
        #expect(changes.map(\.description) == [
            "C /etc", "D /etc/a", "A /etc/c", "A /etc/link", "C /usr", "C /usr/bin", "C /usr/bin/tool", "A /usr/bin/tool-alias",
            "C /var", "D /var/log",
        ])
        #expect(try LayerComparison.changes(layer: parent, parent: parent) == [])

        let tar = "\(outer)/diff.tar"
        let fd = open(tar, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        defer { close(fd) }
        let bytes = try LayerExporter.export(layer: layer, changes: changes, to: fd)
        #expect(bytes == Int64("version 2".utf8.count + 1), "the second name of tool is a hard link, not a second copy")
        lseek(fd, 0, SEEK_SET)
        try Self.run("/bin/cp", ["-a", parent, again])
        _ = try LayerApplier.apply(tar: fd, to: again, options: .init())
        let left = try LayerComparison.changes(layer: again, parent: layer)
        #expect(left == [], "the diff applied onto the parent is the layer: \(left)")
        var st = stat()
        #expect(lstat("\(again)/usr/bin/tool-alias", &st) == 0 && st.st_nlink == 2)
    }

    @Test("a layer without a parent: everything is added")
    func noParent() throws {
        let outer = "\(NSTemporaryDirectory())kbs-diff-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: outer) }
        try FileManager.default.createDirectory(atPath: "\(outer)/layer", withIntermediateDirectories: true)
        try Self.apply([LayerTar.directory("d"), LayerTar.file("d/f", "x")], to: "\(outer)/layer", scratch: outer)
        #expect(try LayerComparison.changes(layer: "\(outer)/layer", parent: nil).map(\.description) == ["A /d", "A /d/f"])
    }
}

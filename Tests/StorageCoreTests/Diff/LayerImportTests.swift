import Foundation
import Glibc
import Testing
@testable import StorageCore

/// ApplyDiff on the engine: layer tars written into snapshots' block devices, a chain of them
/// with whiteouts, and refusals that leave the store as it was.
@Suite("Layer import", .serialized, .enabled(if: BackendChoice.block != nil, "set KBS_ROOT_TESTS=1 (root) or KBS_DM_TESTS=1 (VM)"))
struct LayerImportTests {
    private func apply(_ s: SnapshotNamespace, _ key: String, _ members: [LayerTar.Member], _ scratch: String) async throws -> ApplyResult {
        let tar = "\(scratch)/\(UUID().uuidString).tar"
        let fd = try LayerTar.write(members, to: tar)
        defer { close(fd); unlink(tar) }
        return try await s.applyLayer(key, tar: fd)
    }

    @Test("a chain of layers applied through their devices: each layer sees its parents' files less its whiteouts")
    func chain() async throws {
        try await withTestPool(try #require(BackendChoice.block)) { pool in
            let s = pool.snapshots
            let scratch = NSTemporaryDirectory()
            _ = try await s.prepare("l1")
            let one = try await apply(s, "l1", [LayerTar.directory("etc"), LayerTar.file("etc/os-release", "ID=kbs\n"),
                                               LayerTar.file("etc/old", "old"), LayerTar.directory("var/cache"),
                                               LayerTar.file("var/cache/a", "a")], scratch)
            #expect(one.members == 5 && one.dataBytes == 11)
            try await s.commit("l1", key: "l1")
            _ = try await s.prepare("l2", parent: "l1")
            _ = try await apply(s, "l2", [LayerTar.file("etc/.wh.old", ""), LayerTar.file("var/cache/.wh..wh..opq", ""),
                                         LayerTar.file("etc/new", "new")], scratch)
            #expect(try s.inspect("l2").device?.mountUsers ?? 0 == 0, "the mount is dropped")
            try await s.commit("l2", key: "l2")
            _ = try await s.view("v", parent: "l2")
            let (etc, cache, release) = try await s.withMountedSnapshot("v") { root in
                let fm = FileManager.default
                return (Set(try fm.contentsOfDirectory(atPath: "\(root)/etc")), try fm.contentsOfDirectory(atPath: "\(root)/var/cache"),
                        try String(contentsOfFile: "\(root)/etc/os-release", encoding: .utf8))
            }
            #expect(etc == ["os-release", "new"])
            #expect(cache == [])
            #expect(release == "ID=kbs\n")
            let kept = try await s.withMountedSnapshot("l1") { root in FileManager.default.fileExists(atPath: "\(root)/etc/old") }
            #expect(kept, "the parent layer keeps what the child whited out")
            // Changes and Diff of l2 against l1; the diff applied to a fresh child of l1 is l2 again.
            #expect(try await s.changes("l2").map(\.description) == [
                "C /etc", "A /etc/new", "D /etc/old", "C /var", "C /var/cache", "D /var/cache/a",
            ])
            let tar = "\(scratch)/\(UUID().uuidString).tar"
            let out = open(tar, O_RDWR | O_CREAT | O_TRUNC, 0o600)
            defer { close(out); unlink(tar) }
            #expect(try await s.exportLayer("l2", to: out) == 3)
            lseek(out, 0, SEEK_SET)
            _ = try await s.prepare("l2-again", parent: "l1")
            _ = try await s.applyLayer("l2-again", tar: out)
            try await s.commit("l2-again", key: "l2-again")
            let same = try await s.withMountedSnapshot("l2") { l2 in
                try await s.withMountedSnapshot("l2-again") { again in
                    try LayerComparison.changes(layer: again, parent: l2)
                }
            }
            #expect(same == [])
            try await s.remove("l2-again")
            try await s.remove("v")
            try await s.remove("l2")
            try await s.remove("l1")
            #expect(try await pool.engine.checkConsistency() == [])
        }
    }

    @Test("a layer is refused on a committed snapshot, and a hostile tar leaves the store as it was and the snapshot removable")
    func refusals() async throws {
        try await withTestPool(try #require(BackendChoice.block)) { pool in
            let s = pool.snapshots
            let scratch = NSTemporaryDirectory()
            _ = try await s.prepare("l1")
            try await s.commit("l1", key: "l1")
            try await expectRefused(.failedPrecondition, in: pool) { _ = try await apply(s, "l1", [LayerTar.file("f", "x")], scratch) }
            try await expectRefused(.notFound, in: pool) { _ = try await apply(s, "nope", [LayerTar.file("f", "x")], scratch) }
            _ = try await s.prepare("l2", parent: "l1")
            let before = try s.list()
            try await expectRefused(.invalidArgument, in: pool) {
                _ = try await apply(s, "l2", [LayerTar.file("ok", "x"), LayerTar.file("../../escape", "x")], scratch)
            }
            #expect(try s.list() == before)
            #expect(try s.inspect("l2").device?.mountUsers ?? 0 == 0, "the mount is dropped after a refusal")
            try await s.remove("l2")
            try await s.remove("l1")
            #expect(try await pool.engine.checkConsistency() == [])
        }
    }
}

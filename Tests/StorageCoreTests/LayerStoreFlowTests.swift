import Foundation
import Testing
@testable import StorageCore

/// containers/storage's graph-driver calls expressed on the core, as the GraphDriverAdapter will make them.
@Suite("containers/storage flow", .serialized, .enabled(if: BackendChoice.rootTestsEnabled, "set KBS_ROOT_TESTS=1 (root)"))
struct LayerStoreFlowTests {
    @Test("Create + ApplyDiff + commit in place, CreateReadWrite, refcounted Get/Put, CreateFromTemplate, Remove")
    func graphDriverFlow() throws {
        let pool = try TestPool(.file)
        let e = pool.engine

        // Create(id, parent: nil) then ApplyDiff writes into the layer, then it becomes read-only in place.
        _ = try e.prepare("layer-a", labels: ["containers-storage.kind": "layer"])
        let dirA = try e.mountFilesystem("layer-a")
        try Data("from layer a".utf8).write(to: URL(fileURLWithPath: "\(dirA)/a.txt"))
        try e.unmountFilesystem("layer-a")
        try e.commit("layer-a", key: "layer-a", labels: ["containers-storage.kind": "layer"])

        // CreateReadWrite(container, parent: layer-a).
        _ = try e.prepare("container", parent: "layer-a")

        // Get twice: one mount, counted; Put once keeps it, Put again unmounts.
        let first = try e.mountFilesystem("container")
        let second = try e.mountFilesystem("container")
        #expect(first == second)
        #expect(Mounter.isMountPoint(first))
        #expect(try String(contentsOfFile: "\(first)/a.txt", encoding: .utf8) == "from layer a")
        try Data("container write".utf8).write(to: URL(fileURLWithPath: "\(first)/c.txt"))
        try expectRefused(.busy, in: pool) { try e.remove("container") }
        try e.unmountFilesystem("container")
        #expect(Mounter.isMountPoint(first))
        try e.unmountFilesystem("container")
        #expect(!Mounter.isMountPoint(first))
        #expect(throws: StorageError.self) { try e.unmountFilesystem("container") }
        #expect(try e.inspect("container").device?.state == .active, "the container's device stays attached for its VM")

        // Get on a read-only layer mounts it read-only and detaches it again on Put.
        let ro = try e.mountFilesystem("layer-a")
        #expect(throws: (any Error).self) { try Data("x".utf8).write(to: URL(fileURLWithPath: "\(ro)/x")) }
        try e.unmountFilesystem("layer-a")
        #expect(try e.inspect("layer-a").device?.state == .inactive)

        // CreateFromTemplate(copy, template: container): same parent, same contents, independent from then on.
        _ = try e.clone("copy", from: "container")
        #expect(try e.stat("copy").parent == "layer-a")
        let text = try e.withMountedSnapshot("copy") { dir in try String(contentsOfFile: "\(dir)/c.txt", encoding: .utf8) }
        #expect(text == "container write")

        // Exists / Metadata / Status.
        #expect(try e.stat("copy").kind == .active)
        #expect(try e.inspect("copy").device?.path.hasPrefix("/dev/loop") == true)
        #expect(try e.status().snapshots == 3)

        try e.remove("copy")
        try e.remove("container")
        try e.remove("layer-a")
    }

    @Test("a pool in a directory that can reflink keeps its images there (no XFS pool file)")
    func nativeLayout() throws {
        let scratch = "/tmp/kbs-native-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: "\(scratch)/mnt", withIntermediateDirectories: true)
        try run("/usr/bin/truncate", "-s", "2G", "\(scratch)/xfs.img")
        try run("/usr/sbin/mkfs.xfs", "-q", "-m", "reflink=1", "-s", "size=4096", "\(scratch)/xfs.img")
        try run("/usr/bin/mount", "-o", "loop", "\(scratch)/xfs.img", "\(scratch)/mnt")
        defer {
            _ = try? run("/usr/bin/umount", "\(scratch)/mnt")
            try? FileManager.default.removeItem(atPath: scratch)
        }
        let engine = try StorageEngine.createPool(
            at: "\(scratch)/mnt/state", options: PoolOptions(backend: .file(poolSize: 1 << 30), defaultDeviceSize: 1 << 30),
            logger: TestPool.logger)
        #expect(try engine.status().layout == "native")
        #expect(!FileManager.default.fileExists(atPath: "\(scratch)/mnt/state/pool/pool.xfs"))
        _ = try engine.prepare("a")
        try engine.commit("A", key: "a")
        _ = try engine.prepare("b", parent: "A")
        #expect(try engine.checkConsistency() == [])
        try engine.close(destroy: true)
    }
}

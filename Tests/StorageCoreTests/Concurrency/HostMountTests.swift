import Foundation
import KBSSystem
import Testing
@testable import StorageCore

/// containers/storage's graph-driver calls expressed on the core: host mounts counted in the
/// store (Get/Put), from one process or several.
@Suite("Host mounts", .serialized, .enabled(if: BackendChoice.block != nil, "set KBS_ROOT_TESTS=1 (root) or KBS_DM_TESTS=1 (VM)"))
struct HostMountTests {
    @Test("Create + write + commit in place, CreateReadWrite, counted Get/Put, CreateFromTemplate, Remove")
    func graphDriverFlow() async throws {
        try await withTestPool(try #require(BackendChoice.block)) { pool in
            let e = pool.snapshots
            // Create(id, parent: nil), ApplyDiff writes into the layer, then it becomes read-only in place.
            _ = try await e.prepare("layer-a", labels: ["containers-storage.kind": "layer"])
            let dirA = try await e.mountFilesystem("layer-a")
            try Data("from layer a".utf8).write(to: URL(fileURLWithPath: "\(dirA)/a.txt"))
            try await e.unmountFilesystem("layer-a")
            try await e.commit("layer-a", key: "layer-a", labels: ["containers-storage.kind": "layer"])

            // CreateReadWrite(container, parent: layer-a).
            _ = try await e.prepare("container", parent: "layer-a")

            // Get twice: one mount, counted; Put once keeps it, Put again unmounts.
            let first = try await e.mountFilesystem("container")
            let second = try await e.mountFilesystem("container")
            #expect(first == second)
            #expect(try Mounts.isMountPoint(first))
            #expect(try e.inspect("container").device?.mountUsers == 2)
            #expect(try String(contentsOfFile: "\(first)/a.txt", encoding: .utf8) == "from layer a")
            try Data("container write".utf8).write(to: URL(fileURLWithPath: "\(first)/c.txt"))
            try await expectRefused(.busy, in: pool) { try await e.remove("container") }
            try await expectRefused(.busy, in: pool) { try await e.commit("c", key: "container") }
            try await e.unmountFilesystem("container")
            #expect(try Mounts.isMountPoint(first))
            try await e.unmountFilesystem("container")
            #expect(try !Mounts.isMountPoint(first))
            await #expect(throws: StorageError.self) { try await e.unmountFilesystem("container") }
            #expect(try e.inspect("container").device?.state == .active, "the container's device stays attached for its VM")

            // Get on a read-only layer mounts it read-only and detaches it again on Put.
            let ro = try await e.mountFilesystem("layer-a")
            #expect(throws: (any Error).self) { try Data("x".utf8).write(to: URL(fileURLWithPath: "\(ro)/x")) }
            try await e.unmountFilesystem("layer-a")
            #expect(try e.inspect("layer-a").device?.state == .inactive)

            // CreateFromTemplate(copy, template: container): same parent, same contents, independent from then on.
            _ = try await e.clone("copy", from: "container")
            #expect(try e.stat("copy").parent == "layer-a")
            let text = try await e.withMountedSnapshot("copy") { dir in try String(contentsOfFile: "\(dir)/c.txt", encoding: .utf8) }
            #expect(text == "container write")
            #expect(try e.inspect("copy").device?.path?.hasPrefix(pool.choice.devicePrefix) == true)
            #expect(try await pool.engine.status().snapshots == 3)

            try await e.remove("copy")
            try await e.remove("container")
            try await e.remove("layer-a")
        }
    }

    @Test("a Put from another process unmounts what a Get in this one mounted, and the count is shared")
    func putFromAnotherProcess() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: snapctlPath), "build snapctl first (swift build)")
        try await withTestPool(try #require(BackendChoice.block)) { pool in
            let e = pool.snapshots
            _ = try await e.prepare("layer")
            try await e.commit("layer", key: "layer")
            let directory = try await e.mountFilesystem("layer")
            _ = try await e.mountFilesystem("layer")
            // Another process sees the mount and its two users, and drops them.
            let shown = try run(snapctlPath, "snapshot", "inspect", "layer", "--namespace", TestPool.namespace, "--state-dir", pool.state, "--format", "json")
            #expect(shown.contains("\"mountUsers\" : 2"), "\(shown)")
            try runUnmount(pool, "layer")
            #expect(try Mounts.isMountPoint(directory), "one user is left")
            try runUnmount(pool, "layer")
            #expect(try !Mounts.isMountPoint(directory), "the last Put, from another process, unmounted it")
            #expect(try e.inspect("layer").device?.state == .inactive)
            try await e.remove("layer")
        }
    }

    /// A Put made by a separate process (a test helper mode of snapctl is not needed: the engine
    /// API is the same in every process, so the stress worker does it).
    private func runUnmount(_ pool: TestPool, _ key: String) throws {
        try run(stressPath, "unmount", pool.state, TestPool.namespace, key)
    }

    @Test("a mount made behind the engine's back going away is repaired by the next Get")
    func staleMountRepaired() async throws {
        try await withTestPool(try #require(BackendChoice.block)) { pool in
            let e = pool.snapshots
            _ = try await e.prepare("k")
            let directory = try await e.mountFilesystem("k")
            try run("/usr/bin/umount", directory)
            #expect(try await pool.engine.checkConsistency().contains { $0.problem.contains("recorded as mounted") })
            let again = try await e.mountFilesystem("k")
            #expect(again == directory)
            #expect(try Mounts.isMountPoint(directory))
            #expect(try e.inspect("k").device?.mountUsers == 2)
            try await e.unmountFilesystem("k")
            try await e.unmountFilesystem("k")
            #expect(try !Mounts.isMountPoint(directory))
        }
    }

    @Test("a pool in a directory that can reflink keeps its images there (no XFS pool file)", .enabled(if: BackendChoice.rootTestsEnabled))
    func nativeLayout() async throws {
        let scratch = "/tmp/kbs-native-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: "\(scratch)/mnt", withIntermediateDirectories: true)
        try run("/usr/bin/truncate", "-s", "2G", "\(scratch)/xfs.img")
        try run("/usr/sbin/mkfs.xfs", "-q", "-m", "reflink=1", "-s", "size=4096", "\(scratch)/xfs.img")
        try run("/usr/bin/mount", "-o", "loop", "\(scratch)/xfs.img", "\(scratch)/mnt")
        defer {
            _ = try? run("/usr/bin/umount", "\(scratch)/mnt")
            try? FileManager.default.removeItem(atPath: scratch)
        }
        var configuration = EngineConfiguration()
        configuration.backend = "file"
        configuration.file.poolSize = 1 << 30
        configuration.defaultDeviceSize = 1 << 30
        let engine = try await StorageEngine.create(at: "\(scratch)/mnt/state", configuration: configuration, logger: TestPool.logger)
        let s = engine.snapshots(in: "test")
        #expect(try await engine.status().layout == "native")
        #expect(!FileManager.default.fileExists(atPath: "\(scratch)/mnt/state/pool/pool.xfs"))
        _ = try await s.prepare("a")
        try await s.commit("A", key: "a")
        _ = try await s.prepare("b", parent: "A")
        #expect(try await engine.checkConsistency() == [])
        try await engine.close(destroy: true)
    }
}

/// The multi-process worker sits next to the test bundle in the build directory.
var stressPath: String {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("kbs-stress").path
}

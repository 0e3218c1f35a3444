import Foundation
import KBSSystem
import Testing
@testable import StorageCore

/// containerd's snapshotter contract, run against every backend.
@Suite("Graph conformance", .serialized)
struct GraphConformanceTests {
    @Test("prepare, commit and view build a chain with parents and kinds", arguments: BackendChoice.enabled)
    func chain(_ choice: BackendChoice) async throws {
        try await withTestPool(choice) { pool in
            let s = pool.snapshots
            let mounts = try await s.prepare("default/1/active", labels: ["a": "1"])
            #expect(mounts.count == 1)
            #expect(mounts[0].options.contains("ro") == false)
            try await s.commit("layer-1", key: "default/1/active", labels: ["c": "x"])
            #expect(throws: StorageError.self) { try s.stat("default/1/active") }
            let committed = try s.stat("layer-1")
            #expect(committed.kind == .committed)
            #expect(committed.parent == nil)
            #expect(committed.labels == ["c": "x"])
            #expect(committed.namespace == TestPool.namespace)

            _ = try await s.prepare("default/2/active", parent: "layer-1")
            try await s.commit("layer-2", key: "default/2/active")
            #expect(try s.stat("layer-2").parent == "layer-1")

            let view = try await s.view("view-2", parent: "layer-2")
            #expect(view[0].options.contains("ro"))
            let info = try s.stat("view-2")
            #expect(info.kind == .view)
            #expect(info.parent == "layer-2")
            #expect(info.created <= info.updated)

            let all = try s.list()
            #expect(Set(all.map(\.name)) == ["layer-1", "layer-2", "view-2"])
            #expect(try s.list(SnapshotFilter(anyOf: [[.init(.parent, .equals("layer-1"))]])).map(\.name) == ["layer-2"])
            #expect(try s.list(SnapshotFilter(anyOf: [[.init(.kind, .equals("view"))]])).map(\.name) == ["view-2"])
            #expect(try s.list(SnapshotFilter(anyOf: [[.init(.label("c"), .exists)], [.init(.name, .equals("view-2"))]])).count == 2)

            try await s.remove("view-2")
            try await s.remove("layer-2")
            try await s.remove("layer-1")
            #expect(try s.list().isEmpty)
            #expect(try await pool.engine.status().devices == 1, "only the base device remains")
        }
    }

    @Test("update changes labels only, by field path", arguments: BackendChoice.enabled)
    func updateLabels(_ choice: BackendChoice) async throws {
        try await withTestPool(choice) { pool in
            let s = pool.snapshots
            _ = try await s.prepare("k", labels: ["keep": "1", "drop": "2"])
            let before = try s.stat("k")
            var change = SnapshotInfo(name: "k", labels: ["new": "3"])
            var after = try await s.update(change, fieldPaths: ["labels.new", "labels.drop"])
            #expect(after.labels == ["keep": "1", "new": "3"])
            #expect(after.updated > before.updated)
            #expect(after.created == before.created)
            change.labels = ["only": "this"]
            after = try await s.update(change, fieldPaths: ["labels"])
            #expect(after.labels == ["only": "this"])
            after = try await s.update(SnapshotInfo(name: "k", labels: ["x": "y"]))
            #expect(after.labels == ["x": "y"])
            #expect(try s.stat("k") == after)
        }
    }

    @Test("commit under the key's own name turns the layer committed in place", arguments: BackendChoice.enabled)
    func commitInPlace(_ choice: BackendChoice) async throws {
        try await withTestPool(choice) { pool in
            _ = try await pool.snapshots.prepare("layer")
            try await pool.snapshots.commit("layer", key: "layer")
            #expect(try pool.snapshots.stat("layer").kind == .committed)
            _ = try await pool.snapshots.prepare("child", parent: "layer")
        }
    }

    @Test("clone copies a layer's device and keeps its parent (CreateFromTemplate)", arguments: BackendChoice.enabled)
    func cloneTemplate(_ choice: BackendChoice) async throws {
        try await withTestPool(choice) { pool in
            let s = pool.snapshots
            _ = try await s.prepare("base")
            try await s.commit("base", key: "base")
            _ = try await s.prepare("template", parent: "base")
            let mounts = try await s.clone("copy", from: "template")
            #expect(mounts.count == 1)
            let copy = try s.stat("copy")
            #expect(copy.parent == "base")
            #expect(copy.kind == .active)
            let details = try s.inspect("copy")
            let source = try s.inspect("template")
            #expect(details.device?.originID == source.device?.id)
        }
    }

    @Test("state survives closing and reopening the pool", arguments: BackendChoice.enabled)
    func reopen(_ choice: BackendChoice) async throws {
        try await withTestPool(choice) { pool in
            _ = try await pool.snapshots.prepare("a")
            try await pool.snapshots.commit("A", key: "a")
            _ = try await pool.snapshots.prepare("b", parent: "A", labels: ["l": "v"])
            _ = try await pool.snapshots.view("v", parent: "A")
            let before = try pool.snapshots.list()
            try await pool.reopen()
            let s = pool.snapshots
            #expect(try s.list() == before)
            #expect(try await s.mounts("b").count == 1)
            #expect(try s.inspect("b").device?.state == .active)
            #expect(try s.inspect("v").device?.readOnly == true)
            try await s.remove("v")
            try await s.remove("b")
            try await s.remove("A")
        }
    }

    @Test("usage counts bytes written to the snapshot, not its parent's", arguments: BackendChoice.enabled)
    func usage(_ choice: BackendChoice) async throws {
        try await withTestPool(choice) { pool in
            let s = pool.snapshots
            _ = try await s.prepare("u")
            let empty = try await s.usage("u")
            #expect(empty.size < 1 << 20, "a fresh snapshot holds (almost) nothing of its own")
            #expect(empty.inodes == 0)
            if choice == .memory {
                pool.memory.recordWrite(try #require(try s.inspect("u").device).id, bytes: 4096)
                #expect(try await s.usage("u").size == 4096)
            } else {
                try await s.withMountedSnapshot("u") { root in
                    try Data(repeating: 7, count: 2 << 20).write(to: URL(fileURLWithPath: "\(root)/two-mib"))
                }
                let written = try await s.usage("u")
                #expect(written.size >= 2 << 20)
                #expect(written.inodes == 1)
            }
        }
    }

    @Test("a creation a dead process left is undone when the pool is opened again", arguments: BackendChoice.enabled)
    func crashDuringCreate(_ choice: BackendChoice) async throws {
        try await withTestPool(choice) { pool in
            _ = try await pool.snapshots.prepare("survivor")
            // A "creating" record owned by a process that is gone, and its half-made device.
            let core = pool.pool
            let baseID = core.record.baseDeviceID
            let dead = try deadProcess()
            let half = try core.store.write { (txn) throws(StorageError) -> UInt32 in
                let id = try txn.allocateSnapshotID()
                let device = try txn.allocateDeviceID()
                try txn.insertSnapshot(SnapshotRecord(id: id, namespace: TestPool.namespace, name: "half-made", parentID: 0, kind: .active,
                                                      deviceID: device, created: 0, updated: 0, labels: [:]))
                try txn.putDevice(DeviceRecord(id: device, snapshotID: id, originID: baseID, sizeBytes: 1, state: .creating, owner: dead))
                return device
            }
            try core.backend.snapshotDevice(half, from: baseID, originPath: nil)
            try await pool.reopen()
            #expect(throws: StorageError.self) { try pool.snapshots.stat("half-made") }
            #expect(try !pool.pool.backend.deviceIDs().contains(half))
            #expect(try pool.snapshots.stat("survivor").kind == .active)
        }
    }

    @Test("cleanup deletes backend devices that no snapshot refers to", arguments: BackendChoice.enabled)
    func cleanupOrphans(_ choice: BackendChoice) async throws {
        try await withTestPool(choice) { pool in
            try pool.pool.backend.createDevice(999, size: 1 << 20)
            let report = try await pool.engine.cleanup()
            #expect(report.orphansDeleted == 1)
            #expect(try !pool.pool.backend.deviceIDs().contains(999))
        }
    }

    @Test("namespaces are separate key spaces: same names, no cross-namespace parents, lists see their own", arguments: BackendChoice.enabled)
    func namespaces(_ choice: BackendChoice) async throws {
        try await withTestPool(choice) { pool in
            let containerd = pool.engine.snapshots(in: "containerd")
            let storage = pool.engine.snapshots(in: "containers-storage")
            _ = try await containerd.prepare("layer")
            try await containerd.commit("layer", key: "layer")
            _ = try await storage.prepare("layer")
            #expect(try containerd.stat("layer").kind == .committed)
            #expect(try storage.stat("layer").kind == .active)
            try await expectRefused(.notFound, in: pool) { _ = try await storage.prepare("child", parent: "other-missing") }
            try await storage.commit("layer", key: "layer")
            _ = try await storage.prepare("child", parent: "layer")
            #expect(try containerd.list().map(\.name) == ["layer"])
            #expect(Set(try storage.list().map(\.name)) == ["layer", "child"])
            #expect(try pool.engine.list().count == 3)
            #expect(try pool.engine.namespaces(containing: "layer") == ["containerd", "containers-storage"])
            #expect(try await pool.engine.status().snapshotsByNamespace == ["containerd": 1, "containers-storage": 2])
            try await containerd.remove("layer")
            #expect(try storage.stat("layer").kind == .committed, "removing one namespace's layer leaves the other's")
            try await storage.remove("child")
            try await storage.remove("layer")
        }
    }
}

/// An owner that is not running: a process id no process has, on this boot.
func deadProcess() throws -> ProcessIdentity {
    var owner = try ProcessIdentity.current()
    owner.startTime &+= 1  // this pid, but a process that started at another time: not us
    return owner
}

@Suite("Deferred device deletion", .serialized)
struct DeferredRemoveTests {
    @Test("a deferred remove takes the snapshot away at once and maintenance deletes its device", arguments: BackendChoice.enabled)
    func deferred(_ choice: BackendChoice) async throws {
        try await withTestPool(choice) { pool in
            let s = pool.snapshots
            _ = try await s.prepare("a")
            try await s.commit("A", key: "a")
            _ = try await s.prepare("b", parent: "A")
            let device = try #require(try s.inspect("b").device)
            try await s.remove("b", deferDeviceDeletion: true)
            #expect(throws: StorageError.self) { try s.stat("b") }
            #expect(try pool.pool.backend.deviceIDs().contains(device.id), "still there until maintenance runs")
            #expect(try await pool.engine.checkConsistency() == [])
            _ = try await s.prepare("b", parent: "A")  // the key is free again
            #expect(try await pool.engine.maintain() == 1)
            #expect(try !pool.pool.backend.deviceIDs().contains(device.id))
            try await s.remove("b", deferDeviceDeletion: true)
            try await s.remove("A", deferDeviceDeletion: true)
            try await pool.reopen()  // a restart finishes what maintenance had not
            #expect(try await pool.engine.status().devices == 1)
        }
    }
}

import Foundation
import Testing
@testable import StorageCore

/// containerd's snapshotter contract, run against every backend.
@Suite("Graph conformance", .serialized)
struct GraphConformanceTests {
    @Test("prepare, commit and view build a chain with parents and kinds", arguments: BackendChoice.enabled)
    func chain(_ choice: BackendChoice) throws {
        let pool = try TestPool(choice)
        let engine = pool.engine
        let mounts = try engine.prepare("default/1/active", labels: ["a": "1"])
        #expect(mounts.count == 1)
        #expect(mounts[0].options.contains("ro") == false)
        try engine.commit("layer-1", key: "default/1/active", labels: ["c": "x"])
        #expect(throws: StorageError.self) { try engine.stat("default/1/active") }
        let committed = try engine.stat("layer-1")
        #expect(committed.kind == .committed)
        #expect(committed.parent == nil)
        #expect(committed.labels == ["c": "x"])

        _ = try engine.prepare("default/2/active", parent: "layer-1")
        try engine.commit("layer-2", key: "default/2/active")
        #expect(try engine.stat("layer-2").parent == "layer-1")

        let view = try engine.view("view-2", parent: "layer-2")
        #expect(view[0].options.contains("ro"))
        let info = try engine.stat("view-2")
        #expect(info.kind == .view)
        #expect(info.parent == "layer-2")
        #expect(info.created <= info.updated)

        let all = try engine.list()
        #expect(Set(all.map(\.name)) == ["layer-1", "layer-2", "view-2"])
        #expect(try engine.list(SnapshotFilter(anyOf: [[.init(.parent, .equals("layer-1"))]])).map(\.name) == ["layer-2"])
        #expect(try engine.list(SnapshotFilter(anyOf: [[.init(.kind, .equals("view"))]])).map(\.name) == ["view-2"])
        #expect(try engine.list(SnapshotFilter(anyOf: [[.init(.label("c"), .exists)], [.init(.name, .equals("view-2"))]])).count == 2)

        try engine.remove("view-2")
        try engine.remove("layer-2")
        try engine.remove("layer-1")
        #expect(try engine.list().isEmpty)
        #expect(try engine.status().devices == 1, "only the base device remains")
    }

    @Test("update changes labels only, by field path", arguments: BackendChoice.enabled)
    func updateLabels(_ choice: BackendChoice) throws {
        let pool = try TestPool(choice)
        let engine = pool.engine
        _ = try engine.prepare("k", labels: ["keep": "1", "drop": "2"])
        let before = try engine.stat("k")
        var change = SnapshotInfo(name: "k", labels: ["new": "3"])
        var after = try engine.update(change, fieldPaths: ["labels.new", "labels.drop"])
        #expect(after.labels == ["keep": "1", "new": "3"])
        #expect(after.updated > before.updated)
        #expect(after.created == before.created)
        change.labels = ["only": "this"]
        after = try engine.update(change, fieldPaths: ["labels"])
        #expect(after.labels == ["only": "this"])
        after = try engine.update(SnapshotInfo(name: "k", labels: ["x": "y"]))
        #expect(after.labels == ["x": "y"])
        #expect(try engine.stat("k") == after)
    }

    @Test("commit under the key's own name turns the layer committed in place", arguments: BackendChoice.enabled)
    func commitInPlace(_ choice: BackendChoice) throws {
        let pool = try TestPool(choice)
        _ = try pool.engine.prepare("layer")
        try pool.engine.commit("layer", key: "layer")
        #expect(try pool.engine.stat("layer").kind == .committed)
        _ = try pool.engine.prepare("child", parent: "layer")
    }

    @Test("clone copies a layer's device and keeps its parent (CreateFromTemplate)", arguments: BackendChoice.enabled)
    func cloneTemplate(_ choice: BackendChoice) throws {
        let pool = try TestPool(choice)
        let engine = pool.engine
        _ = try engine.prepare("base")
        try engine.commit("base", key: "base")
        _ = try engine.prepare("template", parent: "base")
        let mounts = try engine.clone("copy", from: "template")
        #expect(mounts.count == 1)
        let copy = try engine.stat("copy")
        #expect(copy.parent == "base")
        #expect(copy.kind == .active)
        let details = try engine.inspect("copy")
        let source = try engine.inspect("template")
        #expect(details.device?.originID == source.device?.id)
    }

    @Test("state survives closing and reopening the pool", arguments: BackendChoice.enabled)
    func reopen(_ choice: BackendChoice) throws {
        let pool = try TestPool(choice)
        _ = try pool.engine.prepare("a")
        try pool.engine.commit("A", key: "a")
        _ = try pool.engine.prepare("b", parent: "A", labels: ["l": "v"])
        _ = try pool.engine.view("v", parent: "A")
        let before = try pool.engine.list()
        try pool.reopen()
        #expect(try pool.engine.list() == before)
        let mounts = try pool.engine.mounts("b")
        #expect(mounts.count == 1)
        #expect(try pool.engine.inspect("b").device?.state == .active)
        #expect(try pool.engine.inspect("v").device?.readOnly == true)
        try pool.engine.remove("v")
        try pool.engine.remove("b")
        try pool.engine.remove("A")
    }

    @Test("usage counts bytes written to the snapshot, not its parent's", arguments: BackendChoice.enabled)
    func usage(_ choice: BackendChoice) throws {
        let pool = try TestPool(choice)
        let engine = pool.engine
        _ = try engine.prepare("u")
        let empty = try engine.usage("u")
        #expect(empty.size < 1 << 20, "a fresh snapshot holds (almost) nothing of its own")
        #expect(empty.inodes == 0)
        if choice == .memory {
            pool.memory.recordWrite(try engine.inspect("u").device!.id, bytes: 4096)
            #expect(try engine.usage("u").size == 4096)
        } else {
            try engine.withMountedSnapshot("u") { root in
                try Data(repeating: 7, count: 2 << 20).write(to: URL(fileURLWithPath: "\(root)/two-mib"))
            }
            let written = try engine.usage("u")
            #expect(written.size >= 2 << 20)
            #expect(written.inodes == 1)
        }
    }

    @Test("an interrupted create is undone when the pool is opened again", arguments: BackendChoice.enabled)
    func crashDuringCreate(_ choice: BackendChoice) throws {
        let pool = try TestPool(choice)
        _ = try pool.engine.prepare("survivor")
        // Simulate a crash between the "creating" record and the backend call's outcome.
        let engine = pool.engine
        let baseID = engine.config.baseDeviceID
        try engine.store.write { (txn) throws(StorageError) in
            let id = try txn.allocateSnapshotID()
            let device = try txn.allocateDeviceID()
            try txn.insertSnapshot(SnapshotRecord(id: id, name: "half-made", parentID: 0, kind: .active, deviceID: device,
                                                  created: 0, updated: 0, labels: [:]))
            try txn.putDevice(DeviceRecord(id: device, snapshotID: id, originID: baseID, sizeBytes: 1, state: .creating))
        }
        let half = try engine.inspect("half-made").device!.id
        try engine.backend.snapshotDevice(half, from: baseID, originPath: nil)
        try pool.reopen()
        #expect(throws: StorageError.self) { try pool.engine.stat("half-made") }
        #expect(try !pool.engine.backend.deviceIDs().contains(half))
        #expect(try pool.engine.stat("survivor").kind == .active)
    }

    @Test("cleanup deletes backend devices that no snapshot refers to", arguments: BackendChoice.enabled)
    func cleanupOrphans(_ choice: BackendChoice) throws {
        let pool = try TestPool(choice)
        let engine = pool.engine
        try engine.backend.createDevice(999, size: 1 << 20)
        let report = try engine.cleanup()
        #expect(report.orphansDeleted == 1)
        #expect(try !engine.backend.deviceIDs().contains(999))
    }
}

@Suite("Deferred device deletion", .serialized)
struct DeferredRemoveTests {
    @Test("a deferred remove takes the snapshot away at once and the reaper deletes its device", arguments: BackendChoice.enabled)
    func deferred(_ choice: BackendChoice) throws {
        let pool = try TestPool(choice)
        let e = pool.engine
        _ = try e.prepare("a")
        try e.commit("A", key: "a")
        _ = try e.prepare("b", parent: "A")
        let device = try #require(try e.inspect("b").device)
        try e.remove("b", deferDeviceDeletion: true)
        #expect(throws: StorageError.self) { try e.stat("b") }
        #expect(try e.backend.deviceIDs().contains(device.id), "still there until the reaper runs")
        #expect(try e.checkConsistency() == [])
        _ = try e.prepare("b", parent: "A")  // the key is free again
        #expect(try e.reapRemovedDevices() == 1)
        #expect(try !e.backend.deviceIDs().contains(device.id))
        try e.remove("b", deferDeviceDeletion: true)
        try e.remove("A", deferDeviceDeletion: true)
        try pool.reopen()  // a restart finishes what the reaper had not
        #expect(try pool.engine.status().devices == 1)
    }
}

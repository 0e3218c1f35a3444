import Foundation
import Testing
@testable import StorageCore

/// Writes the metadata store of a schema-1 pool (this release) for the upgrade test of later
/// releases: `KBS_WRITE_FIXTURE=DIR swift test --filter Schema1FixtureWriter`. The result is
/// committed under Tests/Fixtures/schema-1; this writer goes away with schema 1.
@Suite("Schema 1 fixture", .enabled(if: ProcessInfo.processInfo.environment["KBS_WRITE_FIXTURE"] != nil))
struct Schema1FixtureWriter {
    @Test func write() throws {
        let out = try #require(ProcessInfo.processInfo.environment["KBS_WRITE_FIXTURE"])
        let pool = try TestPool(.memory, deviceSize: 2 << 30)
        let e = pool.engine
        // What containerd leaves: a 3-layer chain named by chain id, a container's active
        // snapshot with labels, a view, an unfinished extraction, a long key and a deferred removal.
        var parent: String?
        for layer in 1...3 {
            let key = "default/\(layer)/extract-\(layer)"
            _ = try e.prepare(key, parent: parent, labels: ["containerd.io/snapshot.ref": "sha256:\(layer)"])
            let name = "sha256:" + String(repeating: "\(layer)", count: 64)
            try e.commit(name, key: key, labels: ["containerd.io/snapshot.ref": name, "containerd.io/gc.root": "2026-12-01"])
            parent = name
        }
        _ = try e.prepare("default/4/container-1", parent: parent, labels: ["containerd.io/snapshot/kata-block.size": "4GiB"], size: 4 << 30)
        _ = try e.view("default/5/view-1", parent: parent)
        _ = try e.prepare("default/6/extract-unfinished", parent: parent)
        _ = try e.prepare("k8s.io/7/" + String(repeating: "x", count: 600), parent: parent)
        _ = try e.prepare("default/8/removed")
        try e.remove("default/8/removed", deferDeviceDeletion: true)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        for file in ["data.mdb"] {
            try? FileManager.default.removeItem(atPath: "\(out)/\(file)")
            try FileManager.default.copyItem(atPath: "\(StorageEngine.metadataDirectory(pool.state))/\(file)", toPath: "\(out)/\(file)")
        }
        // What the upgrade test compares against: every snapshot as the engine reports it.
        var lines: [String] = []
        for info in try e.list() {
            let device = try #require(try e.inspect(info.name).device)
            let created = try e.store.read { (txn) throws(StorageError) in try txn.snapshot(named: info.name)!.created }
            lines.append([info.name, info.parent ?? "", info.kind.description,
                          info.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","),
                          "\(device.id)", "\(device.sizeBytes)", device.state.description, "\(device.readOnly)",
                          "\(created)"].joined(separator: "\t"))
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: "\(out)/snapshots.tsv", atomically: true, encoding: .utf8)
    }
}

import Foundation
import Testing
@testable import StorageCore

/// A store written by the previous release (schema 1, `Tests/Fixtures/schema-1`) opens after the
/// upgrade with every snapshot as that release reported it, in the containerd namespace.
@Suite("Schema upgrade", .serialized)
struct SchemaUpgradeTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/schema-1").path

    /// One line of the fixture's report.
    struct Reported {
        var name, parent, kind, labels: String
        var device: UInt32
        var size: UInt64
        var state: String
        var readOnly: Bool
        var created: Int64
    }

    static func reported() throws -> [Reported] {
        try String(contentsOfFile: "\(fixture)/snapshots.tsv", encoding: .utf8).split(separator: "\n").map { line in
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            return Reported(name: f[0], parent: f[1], kind: f[2], labels: f[3], device: UInt32(f[4])!, size: UInt64(f[5])!,
                            state: f[6], readOnly: f[7] == "true", created: Int64(f[8])!)
        }
    }

    /// A copy of the fixture as a state directory, and a memory backend holding its devices.
    private func restore() throws -> (state: String, backends: BackendRegistry) {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("kbs-upgrade-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: "\(state)/metadata", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "\(Self.fixture)/data.mdb", toPath: "\(state)/metadata/data.mdb")
        let memory = MemoryBackend()
        for id in UInt32(1)...10 { try memory.createDevice(id, size: 2 << 30) }
        return (state, BackendRegistry.standard.adding(MemoryBackend.Factory(instance: memory)))
    }

    @Test("every snapshot of a schema-1 store is there after the upgrade, and the pool works")
    func upgradesTheFixture() async throws {
        let (state, backends) = try restore()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let engine = try await StorageEngine.open(stateDirectory: state, backends: backends, logger: TestPool.logger)
        let containerd = engine.snapshots(in: Schema.legacyNamespace)
        let expected = try Self.reported()
        #expect(try engine.list().count == expected.count)
        for old in expected {
            let info = try containerd.stat(old.name)
            #expect(info.parent ?? "" == old.parent, "\(old.name)")
            #expect(info.kind.description == old.kind)
            #expect(info.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") == old.labels)
            let created = try engine.pool.store.read { (txn) throws(StorageError) in try txn.snapshot(named: old.name, in: Schema.legacyNamespace)!.created }
            #expect(created == old.created)
            let device = try #require(try containerd.inspect(old.name).device)
            #expect(device.id == old.device)
            #expect(device.sizeBytes == old.size)
            #expect(device.readOnly == old.readOnly)
            #expect(device.state == (old.kind == "committed" ? .inactive : .active))
        }
        #expect(try Schema.version(of: engine.pool.store) == Schema.current)
        #expect(engine.pool.record.backendKind == "memory")
        #expect(engine.pool.record.defaultDeviceSize == 2 << 30)
        #expect(try await engine.checkConsistency() == [])
        // The deferred removal the old release queued is finished.
        #expect(try await engine.status().devices == expected.count + 1)
        // The upgraded pool keeps working, in the namespace containerd sees.
        let top = "sha256:" + String(repeating: "3", count: 64)
        _ = try await containerd.prepare("default/9/after-upgrade", parent: top)
        try await containerd.commit("after-upgrade", key: "default/9/after-upgrade")
        try await containerd.remove("default/5/view-1")
        try await engine.close()
        // Opening again does not upgrade twice.
        let again = try await StorageEngine.open(stateDirectory: state, backends: backends, logger: TestPool.logger)
        #expect(try await again.snapshots(in: Schema.legacyNamespace).stat("after-upgrade").parent == top)
        try await again.close()
    }

    @Test("a store from a newer release is refused and left as it was")
    func refusesNewer() async throws {
        let (state, backends) = try restore()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let store = try GraphStore(directory: "\(state)/metadata")
        try store.write { (txn) throws(StorageError) in try txn.setMetaInteger("schema", Schema.current + 1) }
        let before = try Data(contentsOf: URL(fileURLWithPath: "\(state)/metadata/data.mdb"))
        let refusal = await #expect(throws: StorageError.self) {
            _ = try await StorageEngine.open(stateDirectory: state, backends: backends, logger: TestPool.logger)
        }
        #expect(refusal?.remedy == .upgrade, "\(String(describing: refusal))")
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(state)/metadata/data.mdb")) == before)
    }

    @Test("schema 1's pool labels become the backends' own settings")
    func legacySettings() throws {
        let file = try FilePoolFactory().settings(fromLegacyLabels: ["layout": "xfs-file"], backend: nil)
        #expect(try StoredSettings.decode(FilePoolSettings.self, file, kind: "file") == FilePoolSettings(layout: .xfsFile))
        let thinLabels = ["poolName": "p", "dataBlockSize": "65536", "minFree": "0.1", "source": "files", "data": "/s/pool/data", "metadata": "/s/pool/metadata"]
        let thin = try ThinPoolFactory().settings(fromLegacyLabels: ["layout": "files"], backend: thinLabels)
        #expect(try StoredSettings.decode(ThinPoolSettings.self, thin, kind: "dm-thin")
                == ThinPoolSettings(poolName: "p", source: .files(data: "/s/pool/data", metadata: "/s/pool/metadata"), dataBlockSize: 65536, minFreeFraction: 0.1))
        #expect(throws: StorageError.self) { _ = try ThinPoolFactory().settings(fromLegacyLabels: [:], backend: ["source": "devices"]) }
        #expect(throws: StorageError.self) { _ = try FilePoolFactory().settings(fromLegacyLabels: ["layout": "floppy"], backend: nil) }
    }
}

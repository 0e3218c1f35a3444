import Foundation
import SwiftProtobuf
import Synchronization
import Testing
@testable import SnapshotterAdapter
@testable import StorageCore

@Suite("Snapshots API over the socket", .serialized)
struct SocketBadInputTests {
    @Test("the ten RPCs work end to end", arguments: Backend.enabled)
    func roundTrip(_ backend: Backend) async throws {
        try await withDaemon(backend) { client, engine in
            let mounts = try await client.prepare("a", labels: ["l": "1"])
            #expect(mounts.count == 1)
            #expect(mounts[0].type == "ext4")
            if backend == .file { #expect(mounts[0].source.hasPrefix("/dev/loop")) }
            #expect(try await client.mounts(.with { $0.key = "a" }).mounts == mounts)
            try await client.commit("A", key: "a")
            let view = try await client.view(.with {
                $0.key = "v"
                $0.parent = "A"
            }).mounts
            #expect(view[0].options.contains("ro"))
            let stat = try await client.stat(.with { $0.key = "v" }).info
            #expect(stat.kind == .view)
            #expect(stat.parent == "A")
            #expect(stat.createdAt == stat.updatedAt)
            let updated = try await client.update(.with {
                $0.info = .with {
                    $0.name = "A"
                    $0.labels = ["x": "y"]
                }
                $0.updateMask = .with { $0.paths = ["labels.x"] }
            }).info
            #expect(updated.labels == ["x": "y"])
            #expect(try await client.names() == ["A", "v"])
            #expect(try await client.names(["kind==view"]) == ["v"])
            #expect(try await client.names(["labels.x==y", "name==v"]) == ["A", "v"])
            #expect(try await client.names(["parent==A,kind~=^vi"]) == ["v"])
            let usage = try await client.usage(.with { $0.key = "A" })
            let expected = try await engine.usage("A")
            #expect(usage.size == expected.size)
            #expect(usage.inodes == expected.inodes)
            _ = try await client.remove(.with { $0.key = "v" })
            _ = try await client.remove(.with { $0.key = "A" })
            _ = try await client.cleanup(.init())
            #expect(try await client.names().isEmpty)
        }
    }

    @Test("bad input gets the code containerd expects, changes nothing, and the daemon keeps serving", arguments: Backend.enabled)
    func badInput(_ backend: Backend) async throws {
        try await withDaemon(backend) { client, _ in
            _ = try await client.prepare("p")
            try await client.commit("P", key: "p")
            _ = try await client.prepare("active", parent: "P")
            _ = try await client.view(.with {
                $0.key = "view"
                $0.parent = "P"
            })
            let before = try await client.everything()

            await expectCode(.invalidArgument) { _ = try await client.prepare("") }
            await expectCode(.notFound) { _ = try await client.stat(.with { $0.key = "nope" }) }
            await expectCode(.notFound) { _ = try await client.mounts(.with { $0.key = "nope" }) }
            await expectCode(.notFound) { _ = try await client.usage(.with { $0.key = "nope" }) }
            await expectCode(.notFound) { _ = try await client.remove(.with { $0.key = "nope" }) }
            await expectCode(.notFound) { try await client.commit("X", key: "nope") }
            await expectCode(.alreadyExists) { _ = try await client.prepare("active", parent: "P") }
            await expectCode(.failedPrecondition) { _ = try await client.prepare("x", parent: "active") }
            await expectCode(.notFound) { _ = try await client.prepare("x", parent: "missing") }
            await expectCode(.failedPrecondition) { try await client.commit("X", key: "view") }
            await expectCode(.alreadyExists) { try await client.commit("P", key: "active") }
            await expectCode(.failedPrecondition) { _ = try await client.remove(.with { $0.key = "P" }) }
            await expectCode(.invalidArgument) {
                _ = try await client.update(.with {
                    $0.info = .with {
                        $0.name = "active"
                        $0.parent = "other"
                    }
                    $0.updateMask = .with { $0.paths = ["parent"] }
                })
            }
            await expectCode(.invalidArgument) { _ = try await client.names(["kind=="]) }
            await expectCode(.invalidArgument) { _ = try await client.names(["labels.\"unterminated==x"]) }
            await expectCode(.invalidArgument) { _ = try await client.names(["name~=(["]) }
            await expectCode(.invalidArgument) { _ = try await client.names(["nosuchfield==1"]) }
            var huge: [String: String] = [:]
            for i in 0..<20_000 { huge["label-\(i)"] = "value-\(i)" }
            await expectCode(.invalidArgument) { _ = try await client.prepare("huge", labels: huge) }
            await expectCode(.invalidArgument) {
                _ = try await client.prepare("sized", labels: [SnapshotsService.sizeLabel: "lots"])
            }

            #expect(try await client.everything() == before, "a refused call changed the store")
            // Still serving.
            _ = try await client.prepare("after", parent: "P")
            #expect(try await client.names().contains("after"))
        }
    }

    @Test("50 concurrent Prepares of one key: exactly one succeeds", arguments: Backend.enabled)
    func concurrentPrepares(_ backend: Backend) async throws {
        try await withDaemon(backend) { client, _ in
            let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        do {
                            _ = try await client.prepare("same")
                            return "ok"
                        } catch let error as RPCStatus {
                            return "\(error.code)"
                        }
                    }
                }
                var all: [String] = []
                for try await outcome in group { all.append(outcome) }
                return all
            }
            #expect(outcomes.filter { $0 == "ok" }.count == 1)
            #expect(outcomes.filter { $0 == "\(RPCStatus.Code.alreadyExists)" }.count == 49)
            #expect(try await client.names() == ["same"])
        }
    }

    @Test("a client that disconnects in the middle of a List leaves the daemon serving")
    func disconnectMidStream() async throws {
        try await withDaemon(.memory) { client, engine in
            for i in 0..<2_000 { _ = try await engine.prepare("k\(i)") }
            // Read one batch of the stream, then walk away.
            let first = try await client.list(.init(), limit: 1).first?.info.count
            #expect(first == SnapshotsService.listBatch)
            // A cancelled List.
            let task = Task { try await client.names() }
            task.cancel()
            _ = try? await task.value
            #expect(try await client.names().count == 2_000)
            _ = try await client.stat(.with { $0.key = "k1999" })
        }
    }

    @Test("async remove: the snapshot goes at once, its device soon after", arguments: Backend.enabled)
    func asyncRemove(_ backend: Backend) async throws {
        try await withDaemon(backend, asyncRemove: true) { client, engine in
            _ = try await client.prepare("a")
            let device = try #require(try engine.inspect("a").device)
            _ = try await client.remove(.with { $0.key = "a" })
            await expectCode(.notFound) { _ = try await client.stat(.with { $0.key = "a" }) }
            var gone = false
            for _ in 0..<100 where !gone {
                gone = try !engine.engine.pool.backend.deviceIDs().contains(device.id)
                if !gone { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(gone, "the reaper deleted the device")
        }
    }

    @Test("the size label grows a new writable snapshot's device and filesystem",
          .enabled(if: Backend.rootTestsEnabled, "set KBS_ROOT_TESTS=1 (root)"))
    func sizeLabel() async throws {
        try await withDaemon(.file) { client, engine in
            _ = try await client.prepare("big", labels: [SnapshotsService.sizeLabel: "3GiB"])
            let device = try #require(try engine.inspect("big").device)
            #expect(device.sizeBytes == 3 << 30)
            let blocks = try await engine.withMountedSnapshot("big") { dir -> UInt64 in
                var fs = statvfs()
                _ = statvfs(dir, &fs)
                return UInt64(fs.f_blocks) * UInt64(fs.f_frsize)
            }
            #expect(blocks > (2 << 30) + (512 << 20), "the filesystem grew with its device")
            try await client.commit("BIG", key: "big")
            await expectCode(.invalidArgument) {
                _ = try await client.prepare("smaller", parent: "BIG", labels: [SnapshotsService.sizeLabel: "1GiB"])
            }
            _ = try await client.prepare("same-size-child", parent: "BIG")
            #expect(try engine.inspect("same-size-child").device?.sizeBytes == 3 << 30)
        }
    }

    @Test("the service sees only containerd's namespace: other frontends' snapshots are invisible and safe from its Remove and Cleanup",
          arguments: Backend.enabled)
    func namespaceIsolation(_ backend: Backend) async throws {
        try await withDaemon(backend) { client, containerd in
            let storage = containerd.engine.snapshots(in: "containers-storage")
            _ = try await storage.prepare("layer")
            try await storage.commit("layer", key: "layer")
            _ = try await storage.prepare("container", parent: "layer")
            _ = try await client.prepare("mine")
            #expect(try await client.names() == ["mine"])
            await expectCode(.notFound) { _ = try await client.stat(.with { $0.key = "layer" }) }
            await expectCode(.notFound) { _ = try await client.remove(.with { $0.key = "container" }) }
            await expectCode(.notFound) { _ = try await client.prepare("x", parent: "layer") }
            _ = try await client.cleanup(.init())
            // The same name in both namespaces is fine.
            _ = try await client.prepare("layer")
            #expect(try storage.stat("layer").kind == .committed)
            #expect(try storage.inspect("container").device?.state == .active)
            try await storage.remove("container")
            try await storage.remove("layer")
        }
    }
}

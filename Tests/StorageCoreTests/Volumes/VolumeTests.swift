import Foundation
import KBSSystem
import Testing
@testable import StorageCore

/// `snapctl volume`'s engine side on real devices: volumes made, written, copied, grown, handed to
/// Kata and removed, and what they refuse.
@Suite("Volumes", .serialized, .enabled(if: BackendChoice.block != nil, "set KBS_ROOT_TESTS=1 (root) or KBS_DM_TESTS=1 (VM)"))
struct VolumeTests {
    /// The pool's volumes, described to Kata under the pool's state directory.
    private func volumes(_ pool: TestPool) -> VolumeSet { pool.engine.volumes(kata: KataDirectVolume(root: pool.state + "/kata")) }

    @Test("ext4 and xfs volumes: written, copied, the copy read, grown offline and online, kept across a restart, removed")
    func lifecycle() async throws {
        try await withTestPool(try #require(BackendChoice.block)) { pool in
            let v = volumes(pool)
            let data = try await v.create("data", size: 64 << 20)  // below the pool's device size: a new device, formatted
            #expect(data.filesystem == .ext4 && data.sizeBytes == 64 << 20 && data.state == .active && data.kataVolumePath == nil)
            let big = try await v.create("big", size: 2 << 30)  // the base device cloned and grown
            #expect(try ext4Bytes(big.device!) == 2 << 30)
            let logs = try await v.create("logs", size: 320 << 20, filesystem: .xfs)
            #expect(logs.filesystem == .xfs && logs.state == .active)
            #expect(try blockBytes(data.device!) == 64 << 20 && blockBytes(logs.device!) == 320 << 20)

            let dir = pool.state + "/mnt"
            try withMounted(data.device!, at: dir) { try "hello".write(toFile: "\(dir)/file", atomically: false, encoding: .utf8) }
            try withMounted(logs.device!, at: dir) { try "log".write(toFile: "\(dir)/file", atomically: false, encoding: .utf8) }

            let copy = try await v.snapshot("data", as: "data-copy")
            #expect(copy.source == "data" && copy.filesystem == .ext4 && copy.sizeBytes == data.sizeBytes && copy.device != data.device)
            try withMounted(data.device!, at: dir) { try "changed".write(toFile: "\(dir)/file", atomically: false, encoding: .utf8) }
            try withMounted(copy.device!, at: dir) { try expectFile("\(dir)/file", "hello") }
            let logsCopy = try await v.snapshot("logs", as: "logs-copy")
            #expect(logsCopy.filesystem == .xfs)
            try withMounted(logsCopy.device!, at: dir, options: "nouuid") { try expectFile("\(dir)/file", "log") }

            // Not mounted anywhere: checked and grown offline.
            let grown = try await v.resize("data", to: 128 << 20)
            #expect(grown.filesystemGrown && grown.sizeBytes == 128 << 20, "\(grown.detail)")
            #expect(try blockBytes(data.device!) == 128 << 20 && ext4Bytes(data.device!) == 128 << 20)
            try withMounted(data.device!, at: dir) { try expectFile("\(dir)/file", "changed") }
            // Mounted: grown online where it is mounted, the file kept.
            try run("mount", logs.device!, dir)
            let online = try await v.resize("logs", to: 640 << 20)
            let space = try Files.space(dir)
            let kept = try String(contentsOfFile: "\(dir)/file", encoding: .utf8)
            try run("umount", dir)
            #expect(online.filesystemGrown && online.detail.contains("online"), "\(online.detail)")
            #expect(space.totalBytes > 500 << 20, "the mounted filesystem did not grow: \(space.totalBytes)")
            #expect(kept == "log")

            let status = try await pool.engine.status()
            #expect(status.volumes == 5 && status.snapshotsByNamespace[VolumeSet.namespace] == 5)
            let provisioned: UInt64 = (128 << 20) + (2 << 30) + (640 << 20) + (64 << 20) + (320 << 20)
            #expect(status.volumeBytes == provisioned)

            try await pool.reopen()
            let again = volumes(pool)
            #expect(try again.list().map(\.name) == ["data", "big", "logs", "data-copy", "logs-copy"])
            #expect(try again.inspect("logs").filesystem == .xfs && again.inspect("logs").sizeBytes == 640 << 20)
            #expect(try pool.snapshots.list().isEmpty, "a frontend's namespace sees no volume")
            for name in ["data-copy", "data", "big", "logs", "logs-copy"] { try await again.remove(name) }
            #expect(try again.list().isEmpty)
        }
    }

    @Test("kata-attach writes Kata's mountInfo.json; a volume handed to Kata grows only its device; kata-detach removes the file")
    func kata() async throws {
        try await withTestPool(try #require(BackendChoice.block)) { pool in
            let v = volumes(pool)
            let volume = try await v.create("pgdata", size: 64 << 20)
            let path = "/var/lib/kubelet/pods/0a1b2c/volumes/kubernetes.io~csi/pgdata/mount"
            let info = try await v.kataAttach("pgdata", volumePath: path)
            #expect(info == KataDirectVolume.MountInfo(volumeType: "block", device: volume.device!, fsType: "ext4", metadata: [:], options: ["discard"]))
            // The directory name as Kata computes it: base64 with the URL alphabet, padded.
            let encoded = try run("sh", "-c", "printf %s '\(path)' | basenc -w0 --base64url").trimmingCharacters(in: .whitespacesAndNewlines)
            let directory = "\(pool.state)/kata/\(encoded)"
            let json = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(directory)/mountInfo.json"))) as? [String: Any])
            #expect(json["volume-type"] as? String == "block" && json["device"] as? String == volume.device && json["fstype"] as? String == "ext4")
            #expect(try run("stat", "-c", "%a", directory, "\(directory)/mountInfo.json") == "700\n600\n")
            #expect(try v.inspect("pgdata").kataVolumePath == path)
            #expect(try await v.kataAttach("pgdata", volumePath: path + "/") == info, "the same path again is the same description")

            _ = try await v.create("other", size: 64 << 20)
            try await expectRefused(.alreadyExists, in: pool) { try await v.kataAttach("other", volumePath: path) }
            try await expectRefused(.failedPrecondition, in: pool) { try await v.kataAttach("pgdata", volumePath: "/elsewhere") }
            try await expectRefused(.busy, in: pool) { try await v.remove("pgdata") }

            // The guest owns the filesystem: only the device grows.
            let outcome = try await v.resize("pgdata", to: 96 << 20)
            #expect(!outcome.filesystemGrown && outcome.detail.contains("kata-runtime direct-volume resize"), "\(outcome.detail)")
            #expect(try blockBytes(volume.device!) == 96 << 20 && ext4Bytes(volume.device!) == 64 << 20)

            // After a reboot /run is empty: the description is written again.
            try FileManager.default.removeItem(atPath: "\(pool.state)/kata")
            #expect(try await v.refreshKataAttachments() == 1)
            #expect(FileManager.default.fileExists(atPath: "\(directory)/mountInfo.json"))

            try await v.kataDetach("pgdata")
            #expect(!FileManager.default.fileExists(atPath: directory))
            #expect(try v.inspect("pgdata").kataVolumePath == nil)
            try await expectRefused(.failedPrecondition, in: pool) { try await v.kataDetach("pgdata") }
            // Back from the guest: the same size again grows what was left.
            let finished = try await v.resize("pgdata", to: 96 << 20)
            #expect(try finished.filesystemGrown && ext4Bytes(volume.device!) == 96 << 20, "\(finished.detail)")
            try await v.remove("pgdata")
            try await v.remove("other")
        }
    }

    @Test("bad input is refused and changes nothing: duplicates, sizes, names, paths, shrinking, a volume in use")
    func badInput() async throws {
        try await withTestPool(try #require(BackendChoice.block)) { pool in
            let v = volumes(pool)
            let volume = try await v.create("vol", size: 64 << 20)
            try await expectRefused(.alreadyExists, in: pool) { _ = try await v.create("vol", size: 64 << 20) }
            try await expectRefused(.alreadyExists, in: pool) { _ = try await v.snapshot("vol", as: "vol") }
            try await expectRefused(.invalidArgument, in: pool) { _ = try await v.create("tiny", size: 1 << 20) }
            try await expectRefused(.invalidArgument, in: pool) { _ = try await v.create("small-xfs", size: 100 << 20, filesystem: .xfs) }
            for name in ["bad/name", ".hidden", "-flag", "", String(repeating: "a", count: 129)] {
                try await expectRefused(.invalidArgument, in: pool) { _ = try await v.create(name, size: 64 << 20) }
            }
            try await expectRefused(.invalidArgument, in: pool) { _ = try await v.create("labelled", size: 64 << 20, labels: ["kata-block.volume/kata-path": "/x"]) }
            for path in ["relative/path", "/a/../b", "/./a", "/", ""] {
                try await expectRefused(.invalidArgument, in: pool) { try await v.kataAttach("vol", volumePath: path) }
            }
            try await expectRefused(.invalidArgument, in: pool) { _ = try await v.resize("vol", to: 32 << 20) }
            try await expectRefused(.notFound, in: pool) { _ = try await v.resize("missing", to: 128 << 20) }
            try await expectRefused(.notFound, in: pool) { try await v.remove("missing") }
            try await expectRefused(.notFound, in: pool) { _ = try await v.snapshot("missing", as: "copy") }
            #expect(throws: StorageError.self) { try VolumeSet.checkFrontendNamespace(VolumeSet.namespace) }

            // Mounted: not removed.
            let dir = pool.state + "/mnt"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try run("mount", volume.device!, dir)
            try await expectRefused(.busy, in: pool) { try await v.remove("vol") }
            try run("umount", dir)

            // Open by a process (a hypervisor would be): not removed, and its filesystem not grown from here.
            let holder = Process()
            holder.executableURL = URL(fileURLWithPath: "/bin/sh")
            holder.arguments = ["-c", "exec 3<\(volume.device!); exec sleep 60"]
            try holder.run()
            // SIGKILL: the test runner's children may inherit SIGTERM blocked.
            defer { kill(holder.processIdentifier, SIGKILL); holder.waitUntilExit() }
            var waited = 0
            while try DeviceHolders.holders(of: volume.device!).isEmpty && waited < 100 {
                try await Task.sleep(for: .milliseconds(50))
                waited += 1
            }
            try await expectRefused(.busy, in: pool) { try await v.remove("vol") }
            let held = try await v.resize("vol", to: 128 << 20)
            #expect(!held.filesystemGrown && held.detail.contains("pid \(holder.processIdentifier)"), "\(held.detail)")
            #expect(try ext4Bytes(volume.device!) == 64 << 20)
            kill(holder.processIdentifier, SIGKILL)
            holder.waitUntilExit()
            #expect(try await v.resize("vol", to: 128 << 20).filesystemGrown)
            try await v.remove("vol")
        }
    }

    @Test("many callers at once: creates, copies, resizes and removes in parallel")
    func concurrent() async throws {
        try await withTestPool(try #require(BackendChoice.block)) { pool in
            let v = volumes(pool)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<6 {
                    group.addTask {
                        _ = try await v.create("vol-\(i)", size: 64 << 20)
                        _ = try await v.snapshot("vol-\(i)", as: "copy-\(i)")
                        #expect(try await v.resize("vol-\(i)", to: 96 << 20).filesystemGrown)
                    }
                }
                try await group.waitForAll()
            }
            #expect(try v.list().count == 12)
            #expect(try v.list().filter { $0.name.hasPrefix("vol-") }.allSatisfy { $0.sizeBytes == 96 << 20 })
            try await withThrowingTaskGroup(of: Void.self) { group in
                for volume in try v.list() { group.addTask { try await v.remove(volume.name) } }
                try await group.waitForAll()
            }
            #expect(try v.list().isEmpty)
        }
    }
}

/// Mounts `device` at `directory` for `body`.
/// The size of a block device.
private func blockBytes(_ device: String) throws -> UInt64 {
    UInt64(try run("blockdev", "--getsize64", device).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
}

/// The size of the (unmounted) ext4 filesystem on `device`.
private func ext4Bytes(_ device: String) throws -> UInt64 {
    let header = try run("dumpe2fs", "-h", device)
    func field(_ name: String) -> UInt64 {
        header.split(separator: "\n").first { $0.hasPrefix(name + ":") }
            .flatMap { UInt64($0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces)) } ?? 0
    }
    return field("Block count") * field("Block size")
}

/// Expects the file at `path` to hold `text`.
private func expectFile(_ path: String, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let content = try String(contentsOfFile: path, encoding: .utf8)
    #expect(content == text, sourceLocation: sourceLocation)
}

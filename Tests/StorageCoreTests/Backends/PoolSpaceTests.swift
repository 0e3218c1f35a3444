import Foundation
import KBSSystem
import Testing
@testable import StorageCore

/// The pool's space on real devices: space of removed snapshots and deleted files handed back,
/// the `min_free` guard, growth by hand and by itself, and a pool filled from inside a mount.
@Suite("Pool space", .serialized, .enabled(if: BackendChoice.block != nil, "set KBS_ROOT_TESTS=1 (root) or KBS_DM_TESTS=1 (VM)"))
struct PoolSpaceTests {
    private static let poolBytes: UInt64 = 1536 << 20

    /// A small pool (1.5 GiB of data space) with 512 MiB devices.
    private func withSmallPool(_ configure: @escaping (inout EngineConfiguration) -> Void = { _ in }, _ body: (TestPool) async throws -> Void) async throws {
        try await withTestPool(try #require(BackendChoice.block), deviceSize: 512 << 20, thinDataSize: Self.poolBytes, configure: {
            $0.file.poolSize = Self.poolBytes
            configure(&$0)
        }, body)
    }

    @Test("removed snapshots and files deleted inside a writable one give their space back to the host (or the thin-pool)")
    func spaceReturns() async throws {
        try await withSmallPool { pool in
            let fresh = try await occupied(pool)
            let dir = pool.state + "/mnt"
            var peak: Int64 = 0
            for round in 0..<3 {
                let layer = try await pool.snapshots.prepare("layer-\(round)")
                try withMounted(layer[0], at: dir) { try writeRandom("\(dir)/data", megabytes: 150) }
                try await pool.snapshots.commit("committed-\(round)", key: "layer-\(round)")
                let work = try await pool.snapshots.prepare("work-\(round)", parent: "committed-\(round)")
                #expect(work[0].options.contains("discard"), "writable mounts discard what they free: \(work[0].options)")
                // Written, synced and deleted inside the snapshot: its device gives the blocks back.
                try withMounted(work[0], at: dir) {
                    try writeRandom("\(dir)/scratch", megabytes: 100)
                    try FileManager.default.removeItem(atPath: "\(dir)/scratch")
                    try run("sync", "-f", dir)
                }
                let own = try await pool.snapshots.deviceUsage("work-\(round)").exclusiveBytes
                #expect(own < 16 << 20, "a file deleted inside the snapshot still holds \(own) bytes of its device")
                peak = max(peak, try await occupied(pool).pool)
            }
            #expect(peak > fresh.pool + (400 << 20), "the layers did not take space: \(fresh) -> \(peak)")
            for round in 0..<3 {
                try await pool.snapshots.remove("work-\(round)")
                try await pool.snapshots.remove("committed-\(round)")
            }
            try await pool.engine.returnFreedSpace()
            let after = try await occupied(pool)
            print("pool space (\(BackendChoice.block?.rawValue ?? "")): new \(fresh), at the peak \(peak), after removing everything \(after)")
            #expect(after.pool <= fresh.pool + fresh.pool / 10, "after removing everything the pool uses \(after.pool) bytes; a new one \(fresh.pool)")
            if let host = after.host, let new = fresh.host {
                #expect(host <= new + new / 10, "after removing everything the pool occupies \(host) bytes on the host; a new one \(new)")
            }
        }
    }

    @Test("below min_free new snapshots and volumes are refused with the numbers and nothing changes; grown, they are accepted and nothing was lost")
    func guardAndGrow() async throws {
        try await withSmallPool { pool in
            let dir = pool.state + "/mnt"
            let big = try await pool.snapshots.prepare("big", size: 2 << 30)
            _ = try await pool.snapshots.prepare("small")
            var sum = ""
            try withMounted(big[0], at: dir) {
                try fill(pool, dir: dir, untilFree: 0.07)
                sum = try run("sha256sum", "\(dir)/fill-0")
            }
            try await expectRefused(.noSpace, in: pool) { _ = try await pool.snapshots.prepare("refused") }
            try await expectRefused(.noSpace, in: pool) { _ = try await pool.engine.volumes(kata: KataDirectVolume(root: pool.state + "/kata")).create("v", size: 512 << 20) }
            do throws(StorageError) {
                _ = try await pool.snapshots.prepare("refused")
            } catch {
                #expect(error.message.contains("below min_free 10%") && error.message.contains("free"), "\(error.message)")
                #expect(error.remedy == .freeSpace)
            }
            // Commit and remove need no new space: still accepted.
            try await pool.snapshots.commit("small-committed", key: "small")
            try await pool.snapshots.remove("small-committed")

            try await expectRefused(.invalidArgument, in: pool) { _ = try await pool.engine.growPool(to: 1 << 30) }
            // By 512 MiB: in the VM the pool's files sit on a small tmpfs, which must back what it offers.
            let grown = try await pool.engine.growPool(to: Self.poolBytes + (512 << 20))
            #expect(grown.data.totalBytes > Int64(1900) << 20, "\(grown.data)")
            _ = try await pool.snapshots.prepare("accepted")
            var again = ""
            try withMounted(big[0], at: dir) { again = try run("sha256sum", "\(dir)/fill-0") }
            #expect(again == sum)
            try withMounted(try await pool.snapshots.mounts("accepted")[0], at: dir) { try writeRandom("\(dir)/more", megabytes: 64) }
        }
    }

    @Test("the space policy changes while the pool is in use: kept with the pool, taken by another process's change, a bad one refused")
    func policyChanges() async throws {
        try await withSmallPool { pool in
            // Set here: refused at once, and kept across a reopen.
            let strict = try await pool.engine.setSpacePolicy(SpacePolicyChange(minFree: 0.99))
            #expect(strict.minFree == 0.99)
            let refused = await #expect(throws: StorageError.self) { _ = try await pool.snapshots.prepare("refused") }
            #expect(refused?.code == .noSpace && refused?.message.contains("below min_free 99%") == true, "\(String(describing: refused))")
            try await pool.reopen()
            #expect(try await pool.engine.status().minFree == 0.99)
            // Changed by another process (snapctl) while this one has the pool open: taken in the upkeep pass.
            let output = try run(snapctlPath, "pool", "set", "--state-dir", pool.state, "--min-free", "5%", "--format", "json")
            let reported = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
            #expect(reported?["minFree"] as? Double == 0.05, "\(output)")
            try await pool.engine.maintain()
            #expect(try await pool.engine.status().minFree == 0.05)
            _ = try await pool.snapshots.prepare("accepted")
            // Growth where the pool can grow (a pool file, a thin-pool from files); off again with a step of 0.
            let growing = try await pool.engine.setSpacePolicy(SpacePolicyChange(autoGrowStep: 256 << 20, autoGrowThreshold: 0.3, autoGrowLimit: 4 << 30))
            #expect(growing.autoGrow?.step == 256 << 20 && growing.autoGrow?.threshold == 0.3 && growing.autoGrow?.limit == 4 << 30)
            #expect(try await pool.engine.setSpacePolicy(SpacePolicyChange(autoGrowStep: 0)).autoGrow == nil)
            // A policy that does not hold together: refused, nothing changed.
            let before = try pool.storedState()
            for bad in [SpacePolicyChange(minFree: 1.5), SpacePolicyChange(minFree: 0.3, autoGrowStep: 1 << 30, autoGrowThreshold: 0.2)] {
                let error = await #expect(throws: StorageError.self) { _ = try await pool.engine.setSpacePolicy(bad) }
                #expect(error?.code == .invalidArgument)
            }
            #expect(try await pool.engine.status().minFree == 0.05)
            #expect(try pool.storedState() == before)
        }
    }

    @Test("a pool that grows by itself grows before it refuses, up to its limit")
    func growsBySelf() async throws {
        try await withSmallPool({
            var growth = EngineConfiguration.AutoGrowth()
            growth.step = 512 << 20
            growth.limit = 2560 << 20
            $0.file.autoGrow = growth
            $0.thin.autoGrow = growth
        }) { pool in
            let dir = pool.state + "/mnt"
            let big = try await pool.snapshots.prepare("big", size: 4 << 30)
            try withMounted(big[0], at: dir) { try fill(pool, dir: dir, untilFree: 0.15) }
            let before = try await pool.engine.status().data.totalBytes
            _ = try await pool.snapshots.prepare("after-growth")  // below 20% free: grows by a step first
            let after = try await pool.engine.status().data.totalBytes
            #expect(after >= before + Int64(400 << 20), "did not grow: \(before) -> \(after)")
            try withMounted(big[0], at: dir) { try fill(pool, dir: dir, untilFree: 0.15, from: 100) }
            _ = try await pool.snapshots.prepare("at-limit")  // grows to the limit
            let limited = try await pool.engine.status().data.totalBytes
            #expect(limited <= Int64(2560) << 20, "grew past its limit: \(limited)")
            try withMounted(big[0], at: dir) { try fill(pool, dir: dir, untilFree: 0.05, from: 200) }
            try await expectRefused(.noSpace, in: pool) { _ = try await pool.snapshots.prepare("refused") }
        }
    }

    @Test("a writer filling the pool from inside a mount: its writes fail, the other snapshots' filesystems stay clean, and removing it recovers")
    func filledFromInside() async throws {
        try await withSmallPool { pool in
            let dir = pool.state + "/mnt"
            let other = pool.state + "/other"
            let bystander = try await pool.snapshots.prepare("bystander")
            let writer = try await pool.snapshots.prepare("writer", size: 2 << 30)
            try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
            try run("mount", ["-o", bystander[0].options.joined(separator: ",")], bystander[0].source, other)
            defer { _ = try? run("umount", other) }
            try writeRandom("\(other)/kept", megabytes: 32)
            let sum = try run("sha256sum", "\(other)/kept")
            // The bystander has nothing left to write: a freeze puts its metadata where it lives
            // (the journal checkpointed). A filesystem with writes still pending when the pool
            // fills up fails them, as on any thin provisioning: that is not what is tested here,
            // and under load the flusher may write the pending ones in the middle of the flood.
            try run("fsfreeze", "-f", other)
            try run("fsfreeze", "-u", other)
            try withMounted(writer[0], at: dir) {
                // Past min_free to the end: the writer's own writes fail (its filesystem may abort).
                let filled = Result { try writeRandom("\(dir)/flood", megabytes: 1800) }
                #expect(throws: (any Error).self, "a write past the pool's end succeeded") { try filled.get() }
                // The bystander reads what it had, while the pool is full.
                let read = try run("sha256sum", "\(other)/kept")
                #expect(read == sum)
            }
            // What an operator (or containerd's GC) does: the runaway container's snapshot goes.
            try await pool.snapshots.remove("writer")
            try await pool.engine.returnFreedSpace()
            try run("umount", other)
            // The bystander's filesystem is clean (-n: check only; exit 0 means no errors).
            _ = try run("e2fsck", "-f", "-n", bystander[0].source)
            var kept = ""
            try withMounted(bystander[0], at: other) { kept = try run("sha256sum", "\(other)/kept") }
            #expect(kept == sum)
            _ = try await pool.snapshots.prepare("afterwards")
        }
    }

    /// Bytes the pool uses of its data space, and what holds its data occupies on the host: the
    /// file backend's pool file, a thin-pool's data file (its metadata file is left out: dm-thin
    /// never discards metadata blocks, so that file fills up to its fixed size and stays there).
    private func occupied(_ pool: TestPool) async throws -> (pool: Int64, host: Int64?) {
        let status = try await pool.engine.status()
        if let thin = pool.pool.backend as? ThinPool, case .files(let data, _) = thin.settings.source {
            return (status.data.usedBytes, try #require(try Files.status(data)).allocatedBytes)
        }
        return (status.data.usedBytes, status.host?.allocatedBytes)
    }

    /// Writes 64 MiB files of random bytes into `dir` until less than `untilFree` of the pool is
    /// free (the last file shortened to land there), each synced; names start at `fill-<from>`.
    private func fill(_ pool: TestPool, dir: String, untilFree: Double, from: Int = 0) throws {
        var index = from
        while true {
            let space = try pool.pool.backend.dataSpace()
            let target = Int64(Double(space.totalBytes) * untilFree)
            guard space.freeBytes > target else { return }
            let megabytes = Int(min(64, max(1, (space.freeBytes - target) >> 20)))
            try writeRandom("\(dir)/fill-\(index)", megabytes: megabytes)
            index += 1
        }
    }
}

/// Writes `megabytes` MiB of random bytes to `path` and syncs it; throws when a write fails.
func writeRandom(_ path: String, megabytes: Int) throws {
    try run("dd", "if=/dev/urandom", "of=\(path)", "bs=1M", "count=\(megabytes)", "conv=fsync", "status=none")
}

import Foundation
import KBSSystem
import Testing
@testable import StorageCore

/// Real data through real mounts on a block backend: the reflink file backend as root
/// (KBS_ROOT_TESTS=1), dm-thin in the VM (KBS_DM_TESTS=1).
@Suite("Block backend data", .serialized, .enabled(if: BackendChoice.block != nil, "set KBS_ROOT_TESTS=1 (root) or KBS_DM_TESTS=1 (VM)"))
struct BlockDataTests {
    private let fm = FileManager.default

    private func write(_ text: String, to path: String) throws {
        try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    private func read(_ path: String) throws -> String {
        String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
    }

    /// Files and directories under `root`.
    private func tree(_ root: String) throws -> [String: String] {
        var result: [String: String] = [:]
        let enumerator = fm.enumerator(atPath: root)
        while let entry = enumerator?.nextObject() as? String {
            var isDir: ObjCBool = false
            _ = fm.fileExists(atPath: "\(root)/\(entry)", isDirectory: &isDir)
            if isDir.boolValue {
                result[entry] = "<dir>"
            } else {
                let data = try Data(contentsOf: URL(fileURLWithPath: "\(root)/\(entry)"))
                result[entry] = data.count > 4096 ? "<\(data.count) bytes>" : String(decoding: data, as: UTF8.self)
            }
        }
        return result
    }

    @Test("a 3-layer chain written through mounts: each layer holds exactly its contents", arguments: FilesystemType.allCases)
    func threeLayers(_ filesystem: FilesystemType) async throws {
        let choice = try #require(BackendChoice.block)
        try await withTestPool(choice, filesystem: filesystem) { pool in
        let e = pool.snapshots

        // Layer 1: a base tree.
        let m1 = try await e.prepare("l1")
        #expect(m1[0].type == filesystem.rawValue)
        #expect(m1[0].source.hasPrefix(choice.devicePrefix))
        try await e.withMountedSnapshot("l1") { root in
            try write("hello", to: "\(root)/etc/greeting")
            try write("v1", to: "\(root)/etc/version")
            try write("doomed", to: "\(root)/tmp/remove-me")
            try write("a", to: "\(root)/data/dir/a")
            try write("b", to: "\(root)/data/dir/b")
            let big = Data(repeating: 0xa5, count: 4 << 20) + Data("end".utf8)
            try big.write(to: URL(fileURLWithPath: "\(root)/data/blob"))
        }
        try await e.commit("L1", key: "l1")

        // Layer 2: modify, delete, and replace a directory with a file.
        _ = try await e.prepare("l2", parent: "L1")
        try await e.withMountedSnapshot("l2") { root in
            try write("v2", to: "\(root)/etc/version")
            try fm.removeItem(atPath: "\(root)/tmp/remove-me")
            try fm.removeItem(atPath: "\(root)/data/dir")
            try write("now a file", to: "\(root)/data/dir")
        }
        try await e.commit("L2", key: "l2")

        // Layer 3: add.
        _ = try await e.prepare("l3", parent: "L2")
        try await e.withMountedSnapshot("l3") { root in try write("top", to: "\(root)/top/marker") }
        try await e.commit("L3", key: "l3")

        let blobContents = Data(repeating: 0xa5, count: 4 << 20) + Data("end".utf8)
        var expected: [String: [String: String]] = [:]
        expected["L1"] = ["etc": "<dir>", "etc/greeting": "hello", "etc/version": "v1", "tmp": "<dir>", "tmp/remove-me": "doomed",
                          "data": "<dir>", "data/dir": "<dir>", "data/dir/a": "a", "data/dir/b": "b"]
        expected["L2"] = ["etc": "<dir>", "etc/greeting": "hello", "etc/version": "v2", "tmp": "<dir>", "data": "<dir>", "data/dir": "now a file"]
        expected["L3"] = expected["L2"]!.merging(["top": "<dir>", "top/marker": "top"]) { a, _ in a }
        for name in ["L1", "L2", "L3"] {
            try await e.withMountedSnapshot(name) { root in
                var contents = try tree(root)
                #expect(contents.removeValue(forKey: "data/blob") == "<\((4 << 20) + 3) bytes>", "\(name) lost data/blob")
                #expect(contents == expected[name], "\(name)")
                #expect(try Data(contentsOf: URL(fileURLWithPath: "\(root)/data/blob")) == blobContents)
                // Committed layers mount read-only.
                #expect(throws: (any Error).self) { try write("x", to: "\(root)/new") }
            }
        }

        // Views are read-only at the mount and at the block device.
        for name in ["L1", "L2", "L3"] {
            let key = "view-\(name)"
            let mounts = try await e.view(key, parent: name)
            #expect(mounts[0].options.contains("ro"))
            let device = try #require(try e.inspect(key).device)
            #expect(device.readOnly)
            let path = try #require(device.path)
            let number = try #require(try Files.status(path)?.deviceNumber)
            let ro = try String(contentsOfFile: "/sys/dev/block/\(number)/ro", encoding: .utf8)
            #expect(ro.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
            try await e.withMountedSnapshot(key) { root in
                var contents = try tree(root)
                contents.removeValue(forKey: "data/blob")
                #expect(contents == expected[name])
                #expect(throws: (any Error).self) { try write("x", to: "\(root)/new") }
            }
            try await e.remove(key)
        }

        // Clones share blocks with their origin: checked with filefrag (file) or thin_ls (dm-thin),
        // independently of the usage code.
        let l3 = try #require(try e.inspect("L3").device)
        if let files = pool.pool.backend as? ReflinkFilePool {
            let frag = try run("/usr/sbin/filefrag", "-v", files.imagePath(l3.id))
            #expect(frag.contains("shared"), "L3's image shares no extents:\n\(frag)")
        } else {
            let thin = try #require(pool.pool.backend as? ThinPool)
            let shared = try thin.usage(of: l3.id, comparedTo: nil).sharedBytes
            #expect(shared >= 4 << 20, "L3 shares the 4 MiB blob with L1 (thin_ls says \(shared) bytes)")
        }
        // L1 wrote a 4 MiB blob; L3 shares it, so L3's own bytes are far fewer.
        let usage1 = try await e.usage("L1")
        let usage3 = try await e.usage("L3")
        #expect(usage1.size >= 4 << 20)
        #expect(usage3.size < usage1.size)
        #expect(usage1.inodes >= 8, "L1 added files and directories")
        #expect(usage3.inodes >= 2, "L3 added top/ and top/marker")
        }
    }

    @Test("commit and remove of a device still mounted elsewhere: flushed, then detached when unmounted")
    func foreignMount() async throws {
        let choice = try #require(BackendChoice.block)
        try await withTestPool(choice) { pool in
        let e = pool.snapshots
        let mounts = try await e.prepare("busy")
        let target = pool.state + "/foreign"
        try fm.createDirectory(atPath: target, withIntermediateDirectories: true)
        try run("/usr/bin/mount", "-t", mounts[0].type, mounts[0].source, target)
        // Written but not synced: committing must still capture it.
        try write("unsynced", to: "\(target)/late")
        try await e.commit("done", key: "busy")
        #expect(try e.stat("done").kind == .committed)
        #expect(try choice.isDetaching(mounts[0].source), "the device detaches when the mount goes")
        _ = try await e.prepare("child", parent: "done")
        let text = try await e.withMountedSnapshot("child") { root in try read("\(root)/late") }
        #expect(text == "unsynced")

        // Remove of a mounted view: the device goes once it is unmounted.
        let view = try await e.view("v", parent: "done")
        let viewTarget = pool.state + "/foreign-view"
        try fm.createDirectory(atPath: viewTarget, withIntermediateDirectories: true)
        try run("/usr/bin/mount", "-o", "ro", "-t", view[0].type, view[0].source, viewTarget)
        try await e.remove("v")
        #expect(throws: StorageError.self) { try e.stat("v") }
        try run("/usr/bin/umount", viewTarget)
        try run("/usr/bin/umount", target)
        // The kernel removes a device at its last close, in the background (dm's deferred remove).
        for _ in 0..<1000 where try choice.isAttached(mounts[0].source, of: pool.state) || choice.isAttached(view[0].source, of: pool.state) {
            usleep(10_000)
        }
        #expect(try !choice.isAttached(mounts[0].source, of: pool.state))
        #expect(try !choice.isAttached(view[0].source, of: pool.state))
        // A thin device cannot be deleted while open: the view's device waited for its unmount.
        #expect(try await pool.engine.maintain() == (choice == .dmThin ? 1 : 0))
        }
    }

    @Test("devices come back after they are detached behind the pool's back (reboot)")
    func reattachAfterReboot() async throws {
        let choice = try #require(BackendChoice.block)
        try await withTestPool(choice) { pool in
        let e = pool.snapshots
        _ = try await e.prepare("a")
        try await e.withMountedSnapshot("a") { root in try write("kept", to: "\(root)/f") }
        let before = try #require(try e.inspect("a").device)
        try choice.detachBehindBack(try #require(before.path))
        // A reboot: the engine notices by the boot id it recorded.
        try pool.pool.store.write { (txn) throws(StorageError) in try txn.setMetaString("boot", "an earlier boot") }
        try await pool.reopen()
        let after = try #require(try pool.snapshots.inspect("a").device)
        #expect(after.state == .active)
        #expect(try pool.pool.backend.attachedDevices()[after.id] == after.path)
        let text = try await pool.snapshots.withMountedSnapshot("a") { root in try read("\(root)/f") }
        #expect(text == "kept")
        }
    }
}

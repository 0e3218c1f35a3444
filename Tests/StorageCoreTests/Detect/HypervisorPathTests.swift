import Foundation
import KBSSystem
import Testing
@testable import StorageCore

/// `snapctl detect`'s answers, on real mounts: which way Kata hands a rootfs to its guest.
@Suite("Hypervisor path", .serialized, .enabled(if: BackendChoice.block != nil, "set KBS_ROOT_TESTS=1 (root) or KBS_DM_TESTS=1 (VM)"))
struct HypervisorPathTests {
    @Test("a layer's host mount (CRI-O's rootfs path) and a snapshot's mount list are block devices Kata hot-plugs")
    func block() async throws {
        let choice = try #require(BackendChoice.block)
        try await withTestPool(choice) { pool in
            let e = pool.snapshots
            let mounts = try await e.prepare("rootfs")
            let root = try await e.mountFilesystem("rootfs")
            let kind: HypervisorPath.DeviceKind = choice == .dmThin ? .dmThin : .loop

            let byPath = try HypervisorPath.detect(rootfsPath: root)
            #expect(byPath.transport == .block, "\(byPath.reasons)")
            #expect(byPath.device == mounts[0].source)
            #expect(byPath.deviceKind == kind)
            #expect(byPath.filesystem == "ext4")
            #expect(byPath.mountPoint == root)
            #expect(byPath.blockBefore3_3 == (kind == .dmThin), "Kata before 3.3.0 plugs device-mapper devices only")

            let byMounts = try HypervisorPath.detect(mounts: mounts)
            #expect(byMounts.transport == .block, "\(byMounts.reasons)")
            #expect(byMounts.device == mounts[0].source && byMounts.deviceKind == kind)

            let disabled = try HypervisorPath.detect(rootfsPath: root, blockDeviceUseDisabled: true)
            #expect(disabled.transport == .sharedFilesystem)
            #expect(disabled.reasons.contains { $0.contains("disable_block_device_use") })
            try await e.unmountFilesystem("rootfs")
        }
    }

    @Test("a subdirectory of the mount, a bind mount of one, an overlay and a tmpfs are shared")
    func shared() async throws {
        try await withTestPool(try #require(BackendChoice.block)) { pool in
            let e = pool.snapshots
            _ = try await e.prepare("rootfs")
            let root = try await e.mountFilesystem("rootfs")
            let scratch = pool.state + "/detect"
            for dir in ["\(root)/sub", "\(scratch)/bound", "\(scratch)/lower", "\(scratch)/upper", "\(scratch)/work", "\(scratch)/merged", "\(scratch)/tmpfs"] {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            }
            // Mounts made here are taken down whatever happens (a sync call each: no task is left behind).
            var made: [String] = []
            defer { for target in made.reversed() { _ = try? run("umount", target) } }
            try run("mount", "--bind", "\(root)/sub", "\(scratch)/bound")
            made.append("\(scratch)/bound")
            try run("mount", "-t", "overlay", "overlay", "-o", "lowerdir=\(scratch)/lower,upperdir=\(scratch)/upper,workdir=\(scratch)/work", "\(scratch)/merged")
            made.append("\(scratch)/merged")
            try run("mount", "-t", "tmpfs", "tmpfs", "\(scratch)/tmpfs")
            made.append("\(scratch)/tmpfs")

            let sub = try HypervisorPath.detect(rootfsPath: "\(root)/sub")
            #expect(sub.transport == .sharedFilesystem && sub.mountPoint == root)
            #expect(sub.reasons.contains { $0.contains("subdirectory") }, "\(sub.reasons)")
            let bound = try HypervisorPath.detect(rootfsPath: "\(scratch)/bound")
            #expect(bound.transport == .sharedFilesystem && bound.deviceKind != nil)
            #expect(bound.reasons.contains { $0.contains("bind mount of /sub") }, "\(bound.reasons)")
            let overlay = try HypervisorPath.detect(rootfsPath: "\(scratch)/merged")
            #expect(overlay.transport == .sharedFilesystem && overlay.device == nil)
            #expect(overlay.reasons.contains { $0.contains("overlay") }, "\(overlay.reasons)")
            let tmpfs = try HypervisorPath.detect(rootfsPath: "\(scratch)/tmpfs")
            #expect(tmpfs.transport == .sharedFilesystem && tmpfs.reasons.contains { $0.contains("not on a block device") })

            let layers = try HypervisorPath.detect(mounts: [Mount(type: "overlay", source: "overlay", options: ["lowerdir=\(scratch)/lower"])])
            #expect(layers.transport == .sharedFilesystem && layers.reasons.contains { $0.contains("overlay") })
            let bind = try HypervisorPath.detect(mounts: [Mount(type: "none", source: "\(root)/sub", options: ["rbind", "rw"])])
            #expect(bind.transport == .sharedFilesystem && bind.reasons.contains { $0.contains("bind") })
            let two = try HypervisorPath.detect(mounts: try await e.mounts("rootfs") + e.mounts("rootfs"))
            #expect(two.transport == .sharedFilesystem && two.reasons.contains { $0.contains("2 mounts") })
            let notBlock = try HypervisorPath.detect(mounts: [Mount(type: "ext4", source: "\(scratch)/lower", options: [])])
            #expect(notBlock.transport == .sharedFilesystem && notBlock.reasons.contains { $0.contains("not a block device") })
            #expect(throws: StorageError.self) { try HypervisorPath.detect(rootfsPath: "\(scratch)/missing") }

            for target in made.reversed() { try run("umount", target) }
            made = []
            try await e.unmountFilesystem("rootfs")
        }
    }
}

import ArgumentParser
import Foundation
import StorageCore

struct PoolCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pool",
        abstract: "Create, inspect and destroy the pool.",
        subcommands: [Create.self, Activate.self, Status.self, Destroy.self]
    )

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a pool in the state directory.")
        @OptionGroup var global: GlobalOptions

        @Option(help: "Backend: file (reflinked image files on XFS), dm-thin (device-mapper thin-pool), or auto (dm-thin when the kernel has device-mapper).")
        var backend: String = "file"

        @Option(help: "dm-thin: name of the thin-pool device.")
        var poolName: String = "kata-block-pool"

        @Flag(help: "dm-thin: use the thin-pool that already exists under --pool-name.")
        var existing = false

        @Option(help: "dm-thin: data block device (with --metadata-device); without both, two files in the state directory.")
        var dataDevice: String?

        @Option(help: "dm-thin: metadata block device.")
        var metadataDevice: String?

        @Option(help: "dm-thin: size of the data file when the pool is made from files.")
        var dataSize: ByteSize = ByteSize(bytes: 64 << 30)

        @Option(help: "dm-thin: data block size (64KiB suits heavy snapshotting).")
        var blockSize: ByteSize = ByteSize(bytes: 64 << 10)

        @Option(help: "dm-thin: refuse new snapshots while less than this much data or metadata space is free.")
        var minFree: String = "10%"

        @Option(help: "Size of the XFS pool file made when the state directory cannot reflink.")
        var poolSize: ByteSize = ByteSize(bytes: 64 << 30)

        @Option(help: "Size of every new empty device.")
        var deviceSize: ByteSize = ByteSize(bytes: 10 << 30)

        @Option(help: "Filesystem on the devices: ext4 or xfs.")
        var filesystem: String = "ext4"

        func validate() throws {
            guard ["file", "dm-thin", "auto"].contains(backend) else {
                throw ValidationError("--backend must be file, dm-thin or auto")
            }
            guard FilesystemType(rawValue: filesystem) != nil else {
                throw ValidationError("--filesystem must be ext4 or xfs")
            }
            guard deviceSize.bytes >= 512 << 20 else { throw ValidationError("--device-size must be at least 512MiB") }
            guard poolSize.bytes >= deviceSize.bytes / 8 else { throw ValidationError("--pool-size is too small") }
        }

        func run() throws {
            let fs = FilesystemType(rawValue: filesystem)!
            let options: PoolOptions
            if backend == "dm-thin" || (backend == "auto" && ThinPool.isAvailable) {
                let choice = ThinPoolChoice(poolName: poolName, existing: existing, dataDevice: dataDevice, metadataDevice: metadataDevice,
                                            dataSize: "\(dataSize.bytes)", blockSize: "\(blockSize.bytes)", minFree: minFree)
                options = try choice.options(stateDir: global.stateDir, filesystem: fs, deviceSize: deviceSize.bytes)
            } else {
                options = PoolOptions(backend: .file(poolSize: poolSize.bytes), filesystem: fs, defaultDeviceSize: deviceSize.bytes)
            }
            let engine = try StorageEngine.createPool(at: global.stateDir, options: options, logger: global.logger())
            try printStatus(try engine.status(), global)
        }
    }

    struct Activate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Bring the pool back after a reboot: re-create the thin-pool table or re-mount the pool file, re-attach active snapshots.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try printStatus(try global.openEngine().status(), global)
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show data and metadata space and counts.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try printStatus(try global.openEngine().status(), global)
        }
    }

    struct Destroy: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Detach and delete every device and remove the state directory.")
        @OptionGroup var global: GlobalOptions

        @Flag(help: "Required: confirms that every snapshot is to be deleted.")
        var force = false

        func validate() throws {
            guard force else { throw ValidationError("destroying a pool deletes every snapshot; pass --force to confirm") }
        }

        func run() throws {
            try global.openEngine().close(destroy: true)
            if !global.quiet { print("destroyed pool in \(global.stateDir)") }
        }
    }
}

func printStatus(_ status: PoolStatus, _ global: GlobalOptions) throws {
    if global.format == .json {
        try printJSON(status)
        return
    }
    if global.quiet { return }
    let rows: [[String]] = [
        ["backend", "\(status.backend) (\(status.layout))"],
        ["filesystem", status.filesystem.rawValue],
        ["device size", ByteCount.format(Int64(status.defaultDeviceSize))],
        ["data", "\(ByteCount.format(status.data.usedBytes)) used of \(ByteCount.format(status.data.totalBytes))"],
        ["metadata", "\(ByteCount.format(status.metadata.usedBytes)) used of \(ByteCount.format(status.metadata.totalBytes))"],
    ] + (status.poolMetadata.map { [["pool metadata", "\(ByteCount.format($0.usedBytes)) used of \(ByteCount.format($0.totalBytes))"]] } ?? []) + [
        ["snapshots", "\(status.snapshots)"],
        ["devices", "\(status.devices) (\(status.faultyDevices) faulty)"],
    ]
    printTable(["FIELD", "VALUE"], rows)
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.dateEncodingStrategy = .iso8601
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

func printTable(_ header: [String], _ rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    for row in all {
        let cells = row.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }
        print(cells.joined(separator: "  "))
    }
}

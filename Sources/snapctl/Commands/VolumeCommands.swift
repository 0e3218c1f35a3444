import ArgumentParser
import Foundation
import StorageCore

struct VolumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volume",
        abstract: "Thin block volumes from the pool, for data that outlives containers, handed to Kata guests as block devices.",
        discussion: """
            Volumes live in a namespace of their own that containerd and containers/storage never see. \
            `kata-attach` writes the description Kata's runtime reads for a pod volume at a path \
            (what `kata-runtime direct-volume add` writes), so that the guest gets the volume as a virtio-blk device.
            """,
        subcommands: [Create.self, List.self, Inspect.self, Snapshot.self, Resize.self, Remove.self, KataAttach.self, KataDetach.self]
    )

    /// What every volume command shares: the pool and where Kata's descriptions go.
    struct Options: ParsableArguments {
        @OptionGroup var global: GlobalOptions
        @Option(name: .long, help: "Directory of Kata's direct-volume descriptions (default: $KATA_DIRECT_VOLUME_ROOT_PATH or \(KataDirectVolume.defaultRoot)).")
        var kataRoot: String?

        func volumes() async throws -> VolumeSet {
            let root = kataRoot ?? ProcessInfo.processInfo.environment["KATA_DIRECT_VOLUME_ROOT_PATH"] ?? KataDirectVolume.defaultRoot
            return try await global.openEngine().volumes(kata: KataDirectVolume(root: root))
        }

        func show(_ volume: Volume, usage: DeviceUsage? = nil) throws {
            if global.format == .json { return try printJSON(VolumeJSON(volume, usage: usage)) }
            if global.quiet { return print(volume.name) }
            var rows: [(String, String)] = [
                ("Name", volume.name), ("Size", ByteCount.format(Int64(volume.sizeBytes))), ("Filesystem", volume.filesystem.rawValue),
                ("Device", volume.device ?? "-"), ("State", volume.state.description), ("Kata volume path", volume.kataVolumePath ?? "-"),
                ("Copy of", volume.source ?? "-"), ("Created", volume.created.formatted(.iso8601)), ("Labels", labelText(volume.labels)),
            ]
            if let usage { rows.append(("Own data", ByteCount.format(usage.exclusiveBytes))) }
            printFields(rows)
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an empty volume with a filesystem.")
        @OptionGroup var options: Options
        @Argument(help: "Volume name (letters, digits, '.', '_', '-').") var name: String
        @Option(help: "Size, e.g. 20GiB (thin: only what is written takes space).") var size: ByteSize
        @Option(help: "Filesystem: ext4 or xfs (default: the pool's).") var filesystem: FilesystemType?
        @Option(name: .customLong("label"), help: "Label KEY=VALUE (repeatable).") var labels: [String] = []

        func run() async throws {
            let volumes = try await options.volumes()
            try options.show(try await volumes.create(name, size: size.bytes, filesystem: filesystem, labels: try parseLabels(labels, allowEmpty: false)))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List volumes.")
        @OptionGroup var options: Options

        func run() async throws {
            let list = try await options.volumes().list()
            if options.global.format == .json { return try printJSON(list.map { VolumeJSON($0, usage: nil) }) }
            if options.global.quiet { return list.forEach { print($0.name) } }
            printTable(["NAME", "SIZE", "FS", "DEVICE", "STATE", "KATA PATH", "COPY OF"], list.map {
                [$0.name, ByteCount.format(Int64($0.sizeBytes)), $0.filesystem.rawValue, $0.device ?? "-", $0.state.description,
                 $0.kataVolumePath ?? "-", $0.source ?? "-"]
            })
        }
    }

    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a volume, with the data it holds of its own.")
        @OptionGroup var options: Options
        @Argument(help: "Volume name.") var name: String

        func run() async throws {
            let volumes = try await options.volumes()
            try options.show(try volumes.inspect(name), usage: try await volumes.usage(name))
        }
    }

    struct Snapshot: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy a volume (copy-on-write, instant whatever its size) into a new volume.",
            discussion: "A volume in use by a guest is copied as a power cut would leave it; freeze its filesystem in the guest (fsfreeze) for an application-consistent copy."
        )
        @OptionGroup var options: Options
        @Argument(help: "Volume to copy.") var source: String
        @Argument(help: "Name of the new volume.") var name: String
        @Option(name: .customLong("label"), help: "Label KEY=VALUE (repeatable).") var labels: [String] = []

        func run() async throws {
            let volumes = try await options.volumes()
            try options.show(try await volumes.snapshot(source, as: name, labels: try parseLabels(labels, allowEmpty: false)))
        }
    }

    struct Resize: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Grow a volume while it stays in use.",
            discussion: "The device grows at once; the filesystem grows online where it is mounted on this host. A volume handed to Kata, or open by a hypervisor, keeps its filesystem size: the guest grows it (kata-runtime direct-volume resize)."
        )
        @OptionGroup var options: Options
        @Argument(help: "Volume name.") var name: String
        @Option(help: "New size, e.g. 40GiB (volumes only grow).") var size: ByteSize

        func run() async throws {
            let outcome = try await options.volumes().resize(name, to: size.bytes)
            if options.global.format == .json { return try printJSON(ResizeJSON(outcome)) }
            if !options.global.quiet {
                print("\(name): \(ByteCount.format(Int64(outcome.sizeBytes))); filesystem \(outcome.filesystemGrown ? "" : "not ")grown: \(outcome.detail)")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove volumes and their data (refused while in use).")
        @OptionGroup var options: Options
        @Argument(help: "Volume names.") var names: [String]

        func run() async throws {
            let volumes = try await options.volumes()
            for name in names {
                try await volumes.remove(name)
                if !options.global.quiet { print(name) }
            }
            try await volumes.engine.returnFreedSpace()
        }
    }

    struct KataAttach: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "kata-attach",
            abstract: "Hand a volume to Kata as the block device of the pod volume at a path.",
            discussion: "Writes <kata-root>/<base64url(PATH)>/mountInfo.json; a Kata container with a volume mounted at PATH gets this device (virtio-blk) in its guest."
        )
        @OptionGroup var options: Options
        @Argument(help: "Volume name.") var name: String
        @Option(help: "The pod volume's path on the host, as the container's mount names it (absolute).") var volumePath: String

        func run() async throws {
            let info = try await options.volumes().kataAttach(name, volumePath: volumePath)
            if options.global.format == .json { return try printJSON(info) }
            if !options.global.quiet { print("\(name): \(info.device) (\(info.fsType)) at \(volumePath)") }
        }
    }

    struct KataDetach: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "kata-detach", abstract: "Take a volume back from Kata (its pod is gone).")
        @OptionGroup var options: Options
        @Argument(help: "Volume name.") var name: String

        func run() async throws {
            try await options.volumes().kataDetach(name)
            if !options.global.quiet { print(name) }
        }
    }
}

extension FilesystemType: ExpressibleByArgument {}

struct VolumeJSON: Encodable {
    var name: String
    var size: UInt64
    var filesystem: String
    var device: String?
    var state: String
    var kataVolumePath: String?
    var source: String?
    var created: Date
    var labels: [String: String]
    var ownBytes: Int64?

    init(_ volume: Volume, usage: DeviceUsage?) {
        name = volume.name
        size = volume.sizeBytes
        filesystem = volume.filesystem.rawValue
        device = volume.device
        state = volume.state.description
        kataVolumePath = volume.kataVolumePath
        source = volume.source
        created = volume.created
        labels = volume.labels
        ownBytes = usage?.exclusiveBytes
    }
}

struct ResizeJSON: Encodable {
    var size: UInt64
    var filesystemGrown: Bool
    var detail: String

    init(_ outcome: ResizeOutcome) {
        size = outcome.sizeBytes
        filesystemGrown = outcome.filesystemGrown
        detail = outcome.detail
    }
}

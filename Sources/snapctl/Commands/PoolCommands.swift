import ArgumentParser
import Foundation
import StorageCore

struct PoolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pool",
        abstract: "Create, inspect and destroy the pool.",
        subcommands: [Create.self, Activate.self, Status.self, SetPolicy.self, Grow.self, Trim.self, Destroy.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a pool in the state directory.",
            discussion: "Settings left out take the defaults `snapctl serve` uses (see `snapctl serve --help`).")
        @OptionGroup var global: GlobalOptions

        @Option(help: "Backend: file (reflinked image files on XFS), dm-thin (device-mapper thin-pool), or auto (dm-thin when the kernel has device-mapper). Default: auto.")
        var backend: String?

        @Option(help: "dm-thin: name of the thin-pool device. Default: \(EngineConfiguration().thin.poolName).")
        var poolName: String?

        @Flag(help: "dm-thin: use the thin-pool that already exists under --pool-name.")
        var existing = false

        @Option(help: "dm-thin: data block device (with --metadata-device); without both, two files in the state directory.")
        var dataDevice: String?

        @Option(help: "dm-thin: metadata block device.")
        var metadataDevice: String?

        @Option(help: "dm-thin: size of the data file when the pool is made from files. Default: \(ByteSize(bytes: EngineConfiguration().thin.dataSize)).")
        var dataSize: ByteSize?

        @Option(help: "dm-thin: data block size. Default: \(ByteSize(bytes: EngineConfiguration().thin.blockSize)).")
        var blockSize: ByteSize?

        @OptionGroup var space: SpacePolicyOptions

        @Option(help: "Size of the XFS pool file made when the state directory cannot reflink. Default: \(ByteSize(bytes: EngineConfiguration().file.poolSize)).")
        var poolSize: ByteSize?

        @Option(help: "Size of every new empty device. Default: \(ByteSize(bytes: EngineConfiguration().defaultDeviceSize)).")
        var deviceSize: ByteSize?

        @Option(help: "Filesystem on the devices: ext4 or xfs. Default: ext4.")
        var filesystem: String?

        /// The options given, as settings over the defaults.
        func engineConfiguration() throws -> EngineConfiguration {
            var configuration = EngineConfiguration()
            var given: [(String, String?)] = [
                ("backend", backend), ("filesystem", filesystem), ("default_size", deviceSize.map { "\($0.bytes)" }),
                ("file.pool_size", poolSize.map { "\($0.bytes)" }), ("dm_thin.pool_name", poolName),
                ("dm_thin.existing", existing ? "true" : nil), ("dm_thin.data_device", dataDevice), ("dm_thin.metadata_device", metadataDevice),
                ("dm_thin.data_size", dataSize.map { "\($0.bytes)" }), ("dm_thin.block_size", blockSize.map { "\($0.bytes)" }),
                ("dm_thin.min_free", space.minFree), ("file.min_free", space.minFree),
            ]
            for prefix in ["file", "dm_thin"] {
                given += [("\(prefix).auto_grow_step", space.autoGrowStep.map { "\($0.bytes)" }), ("\(prefix).auto_grow_threshold", space.autoGrowThreshold),
                          ("\(prefix).auto_grow_limit", space.autoGrowLimit.map { "\($0.bytes)" })]
            }
            for case let (name, value?) in given { try configuration.set(name, to: value) }
            try configuration.validate()
            return configuration
        }

        func validate() throws {
            do {
                _ = try engineConfiguration()
            } catch let error as StorageError {
                throw ValidationError(error.message)
            }
        }

        func run() async throws {
            let configuration = try engineConfiguration()
            // Measured fast (0.2 s for a 1 TiB sparse pool file): the line appears only where it is not
            // (a slow disk's mkfs, a large existing thin-pool's check).
            let engine = try await TerminalProgress.whileRunning("creating the pool in \(global.stateDir)", global, sample: { nil }) {
                try await StorageEngine.create(at: global.stateDir, configuration: configuration, logger: global.logger())
            }
            try printStatus(try await engine.status(), global)
        }
    }

    struct Activate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Bring the pool back after a reboot: re-create the thin-pool table or re-mount the pool file, re-attach active snapshots.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let engine = try await global.openEngine()
            try await engine.reconcile()
            try printStatus(try await engine.status(), global)
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show data and metadata space and counts.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try printStatus(try await global.openEngine().status(), global)
        }
    }

    struct SetPolicy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Change how the pool guards and grows its space while it is in use.",
            discussion: "Stored with the pool: commands, podman's driver and a restarted daemon take it when they open the pool, a running `snapctl serve` within a second. Values left out stay as they are; --auto-grow-step 0 turns growing by itself off. The config file's min_free and auto_grow_* keys are only read when a pool is created.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var space: SpacePolicyOptions

        func change() throws -> SpacePolicyChange {
            do {
                return SpacePolicyChange(minFree: try space.minFree.map { try EngineConfiguration.fraction($0, "--min-free") },
                                         autoGrowStep: space.autoGrowStep?.bytes,
                                         autoGrowThreshold: try space.autoGrowThreshold.map { try EngineConfiguration.fraction($0, "--auto-grow-threshold") },
                                         autoGrowLimit: space.autoGrowLimit?.bytes)
            } catch let error as StorageError {
                throw ValidationError(error.message)
            }
        }

        func validate() throws {
            guard !(try change()).isEmpty else { throw ValidationError("nothing to change: give --min-free or --auto-grow-step/-threshold/-limit") }
        }

        func run() async throws {
            try printStatus(try await global.openEngine().setSpacePolicy(try change()), global)
        }
    }

    struct Grow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Grow the pool's data space while it is in use.",
            discussion: "file: the XFS pool file, its loop device and its filesystem grow online. dm-thin made from files: both files grow and the pool takes the new size; from devices: grow the data device first. Refused when the host filesystem could not back the space the pool would offer.")
        @OptionGroup var global: GlobalOptions

        @Option(help: "The new size of the pool's data space (e.g. 80GiB).")
        var size: ByteSize

        func run() async throws {
            try printStatus(try await global.openEngine().growPool(to: size.bytes), global)
        }
    }

    struct Trim: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Hand the pool's free space back to the host now.",
            discussion: "An XFS pool file's free extents are discarded, punching them out of the file. `snapctl serve` does this by itself after deletions; without it, removals by other programs (the containers/storage driver) come back with this command (a timer, like fstrim.timer). Nothing to do for dm-thin pools or pools on the host's own XFS.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let trimmed = try await global.openEngine().returnFreedSpace(force: true)
            if global.quiet { return }
            print(trimmed.map { "discarded \(ByteCount.format(Int64($0))) of free pool space" } ?? "nothing to hand back: the pool's deletions free host space by themselves")
        }
    }

    struct Destroy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Detach and delete every device and remove the state directory (stop every user of the pool first).")
        @OptionGroup var global: GlobalOptions

        @Flag(help: "Required: confirms that every snapshot is to be deleted.")
        var force = false

        func validate() throws {
            guard force else { throw ValidationError("destroying a pool deletes every snapshot; pass --force to confirm") }
        }

        func run() async throws {
            try await global.openEngine().close(destroy: true)
            if !global.quiet { print("destroyed pool in \(global.stateDir)") }
        }
    }
}

/// How a pool guards and grows its space: given at `pool create` (over the defaults) and `pool set`
/// (over what the pool has).
struct SpacePolicyOptions: ParsableArguments {
    @Option(help: "Refuse new snapshots and volumes while less than this much pool space (dm-thin: data or metadata) is free (at create: 10%).")
    var minFree: String?

    @Option(help: "Grow the pool by this much when it runs low (file: the XFS pool file; dm-thin: a pool made from files). 0: never (at create: 0).")
    var autoGrowStep: ByteSize?

    @Option(help: "Grow the pool when less than this much of it is free (at create: 20%).")
    var autoGrowThreshold: String?

    @Option(help: "The largest size the pool grows to by itself; 0: while the host filesystem has room (at create: 0).")
    var autoGrowLimit: ByteSize?
}

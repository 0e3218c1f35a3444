import ArgumentParser
import Foundation
import StorageCore

struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Create, commit, list and remove snapshots.",
        subcommands: [Prepare.self, View.self, Commit.self, Remove.self, List.self, Tree.self, Inspect.self,
                      Mounts.self, Usage.self, Label.self]
    )

    struct Prepare: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a writable snapshot and print its mount.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Key of the new snapshot.") var key: String
        @Argument(help: "Committed parent.") var parent: String?
        @Option(name: .customLong("label"), help: "Label KEY=VALUE (repeatable).") var labels: [String] = []

        func run() throws {
            let mounts = try global.openEngine().prepare(key, parent: parent, labels: try parseLabels(labels))
            try printMounts(mounts, global)
        }
    }

    struct View: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a read-only view of a committed snapshot and print its mount.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Key of the new view.") var key: String
        @Argument(help: "Committed parent.") var parent: String?
        @Option(name: .customLong("label"), help: "Label KEY=VALUE (repeatable).") var labels: [String] = []

        func run() throws {
            let mounts = try global.openEngine().view(key, parent: parent, labels: try parseLabels(labels))
            try printMounts(mounts, global)
        }
    }

    struct Commit: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Commit an active snapshot under a name (unmount it first).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Name of the committed snapshot.") var name: String
        @Argument(help: "Key of the active snapshot.") var key: String
        @Option(name: .customLong("label"), help: "Label KEY=VALUE (repeatable).") var labels: [String] = []

        func run() throws {
            try global.openEngine().commit(name, key: key, labels: try parseLabels(labels))
            if !global.quiet { print(name) }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove snapshots (children first).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Keys or names to remove.") var keys: [String]

        func run() throws {
            let engine = try global.openEngine()
            for key in keys {
                try engine.remove(key)
                if !global.quiet { print(key) }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List snapshots.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this kind: active, view or committed.") var kind: String?
        @Option(help: "Only children of this parent.") var parent: String?
        @Option(name: .customLong("label"), help: "Only snapshots with label KEY or KEY=VALUE (repeatable, all must match).")
        var labels: [String] = []

        func run() throws {
            var conditions: [SnapshotFilter.Condition] = []
            if let kind {
                guard SnapshotKind(name: kind) != nil else { throw ValidationError("--kind must be active, view or committed") }
                conditions.append(.init(.kind, .equals(kind.lowercased())))
            }
            if let parent { conditions.append(.init(.parent, .equals(parent))) }
            for label in labels {
                let parts = label.split(separator: "=", maxSplits: 1).map(String.init)
                conditions.append(.init(.label(parts[0]), parts.count == 2 ? .equals(parts[1]) : .exists))
            }
            let filter = conditions.isEmpty ? SnapshotFilter.all : SnapshotFilter(anyOf: [conditions])
            let snapshots = try global.openEngine().list(filter)
            if global.format == .json { return try printJSON(snapshots.map(SnapshotJSON.init)) }
            if global.quiet { return snapshots.forEach { print($0.name) } }
            printTable(["NAME", "PARENT", "KIND", "LABELS"], snapshots.map {
                [$0.name, $0.parent ?? "", $0.kind.description, $0.labels.sorted { $0.key < $1.key }.map { "\($0)=\($1)" }.joined(separator: ",")]
            })
        }
    }

    struct Tree: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show snapshots as a tree of parents and children.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            let snapshots = try global.openEngine().list()
            var children: [String: [SnapshotInfo]] = [:]
            for info in snapshots { children[info.parent ?? "", default: []].append(info) }
            func show(_ parent: String, _ indent: String) {
                for info in children[parent] ?? [] {
                    print("\(indent)\(info.name) [\(info.kind)]")
                    show(info.name, indent + "  ")
                }
            }
            show("", "")
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a snapshot with its device and space.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Key or name.") var key: String

        func run() throws {
            let engine = try global.openEngine()
            let details = try engine.inspect(key)
            let space = try engine.deviceUsage(key)
            if global.format == .json {
                return try printJSON(InspectJSON(details, space))
            }
            let device = details.device
            printTable(["FIELD", "VALUE"], [
                ["name", details.info.name],
                ["parent", details.info.parent ?? ""],
                ["kind", details.info.kind.description],
                ["created", ISO8601DateFormatter().string(from: details.info.created)],
                ["updated", ISO8601DateFormatter().string(from: details.info.updated)],
                ["labels", details.info.labels.sorted { $0.key < $1.key }.map { "\($0)=\($1)" }.joined(separator: ",")],
                ["device", device.map { "\($0.id) \($0.state)\($0.path.isEmpty ? "" : " at \($0.path)")\($0.readOnly ? " read-only" : "")" } ?? "none"],
                ["device fault", device?.fault ?? ""],
                ["written in this snapshot", ByteCount.format(space.exclusiveBytes)],
                ["shared with parent", ByteCount.format(space.sharedBytes)],
            ])
        }
    }

    struct Mounts: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print how to mount an active snapshot or view.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Key.") var key: String

        func run() throws {
            try printMounts(try global.openEngine().mounts(key), global)
        }
    }

    struct Usage: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Bytes and inodes a snapshot holds of its own.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Keys or names; all snapshots when none.") var keys: [String] = []

        func run() throws {
            let engine = try global.openEngine()
            let names = keys.isEmpty ? try engine.list().map(\.name) : keys
            let rows = try names.map { ($0, try engine.usage($0)) }
            if global.format == .json {
                return try printJSON(Dictionary(uniqueKeysWithValues: rows))
            }
            printTable(["NAME", "SIZE", "INODES"], rows.map { [$0.0, ByteCount.format($0.1.size), "\($0.1.inodes)"] })
        }
    }

    struct Label: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set (KEY=VALUE) or remove (KEY=) labels.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Key or name.") var key: String
        @Argument(help: "KEY=VALUE to set, KEY= to remove.") var labels: [String]

        func run() throws {
            var info = SnapshotInfo(name: key)
            var paths: [String] = []
            for label in labels {
                let parts = label.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                guard parts.count == 2, !parts[0].isEmpty else { throw ValidationError("labels are KEY=VALUE or KEY=") }
                if !parts[1].isEmpty { info.labels[parts[0]] = parts[1] }
                paths.append("labels.\(parts[0])")
            }
            let updated = try global.openEngine().update(info, fieldPaths: paths)
            if global.format == .json { return try printJSON(SnapshotJSON(updated)) }
            if !global.quiet { print(updated.labels.sorted { $0.key < $1.key }.map { "\($0)=\($1)" }.joined(separator: "\n")) }
        }
    }
}

func parseLabels(_ pairs: [String]) throws -> [String: String] {
    var labels: [String: String] = [:]
    for pair in pairs {
        let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty else { throw ValidationError("--label takes KEY=VALUE, got \(pair)") }
        labels[parts[0]] = parts[1]
    }
    return labels
}

func printMounts(_ mounts: [Mount], _ global: GlobalOptions) throws {
    if global.format == .json { return try printJSON(mounts) }
    for mount in mounts {
        print(global.quiet ? mount.source : "\(mount.type) \(mount.source) \(mount.options.isEmpty ? "defaults" : mount.options.joined(separator: ","))")
    }
}

struct SnapshotJSON: Encodable {
    var name: String
    var parent: String?
    var kind: String
    var labels: [String: String]
    var created: Date
    var updated: Date

    init(_ info: SnapshotInfo) {
        name = info.name
        parent = info.parent
        kind = info.kind.description
        labels = info.labels
        created = info.created
        updated = info.updated
    }
}

struct InspectJSON: Encodable {
    var snapshot: SnapshotJSON
    var deviceID: UInt32?
    var deviceState: String?
    var devicePath: String?
    var readOnly: Bool?
    var fault: String?
    var writtenBytes: Int64
    var sharedWithParentBytes: Int64

    init(_ details: SnapshotDetails, _ space: DeviceUsage) {
        snapshot = SnapshotJSON(details.info)
        deviceID = details.device?.id
        deviceState = details.device?.state.description
        devicePath = details.device.flatMap { $0.path.isEmpty ? nil : $0.path }
        readOnly = details.device?.readOnly
        fault = details.device.flatMap { $0.fault.isEmpty ? nil : $0.fault }
        writtenBytes = space.exclusiveBytes
        sharedWithParentBytes = space.sharedBytes
    }
}

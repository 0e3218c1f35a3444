import ArgumentParser
import Foundation
import StorageCore

extension SnapshotCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List snapshots of every namespace (or of --namespace).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var namespace: NamespaceOption
        @Option(help: "Only this kind: active, view or committed.") var kind: String?
        @Option(help: "Only children of this parent.") var parent: String?
        @Option(name: .customLong("label"), help: "Only snapshots with label KEY or KEY=VALUE (repeatable, all must match).")
        var labels: [String] = []

        func validate() throws {
            if let kind, SnapshotKind(name: kind) == nil { throw ValidationError("--kind must be active, view or committed") }
        }

        func run() async throws {
            var conditions: [SnapshotFilter.Condition] = []
            if let kind { conditions.append(.init(.kind, .equals(kind.lowercased()))) }
            if let parent { conditions.append(.init(.parent, .equals(parent))) }
            for label in labels {
                let parts = label.split(separator: "=", maxSplits: 1).map(String.init)
                conditions.append(.init(.label(parts[0]), parts.count == 2 ? .equals(parts[1]) : .exists))
            }
            let filter = conditions.isEmpty ? SnapshotFilter.all : SnapshotFilter(anyOf: [conditions])
            let snapshots = try await global.openEngine().list(filter, namespace: namespace.namespace)
            if global.format == .json { return try printJSON(snapshots.map(SnapshotJSON.init)) }
            if global.quiet { return snapshots.forEach { print($0.name) } }
            printTable(["NAMESPACE", "NAME", "PARENT", "KIND", "LABELS"], snapshots.map {
                [$0.namespace, $0.name, $0.parent ?? "", $0.kind.description, labelText($0.labels)]
            })
        }
    }

    struct Tree: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show snapshots as a tree of parents and children, by namespace.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var namespace: NamespaceOption

        func run() async throws {
            let snapshots = try await global.openEngine().list(namespace: namespace.namespace)
            let byNamespace = Dictionary(grouping: snapshots, by: \.namespace)
            for name in byNamespace.keys.sorted() {
                print("\(name):")
                var children: [String: [SnapshotInfo]] = [:]
                for info in byNamespace[name]! { children[info.parent ?? "", default: []].append(info) }
                func show(_ parent: String, _ indent: String) {
                    for info in children[parent] ?? [] {
                        print("\(indent)\(info.name) [\(info.kind)]")
                        show(info.name, indent + "  ")
                    }
                }
                show("", "  ")
            }
        }
    }

    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a snapshot with its device and space.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var namespace: NamespaceOption
        @Argument(help: "Key or name.") var key: String

        func run() async throws {
            let snapshots = try await namespace.holding(key, in: try await global.openEngine())
            let details = try snapshots.inspect(key)
            let space = try await snapshots.deviceUsage(key)
            if global.format == .json { return try printJSON(InspectJSON(details, space)) }
            let device = details.device
            let mounted = device?.mountedAt.map { "\($0) (\(device!.mountUsers) users)" } ?? ""
            printTable(["FIELD", "VALUE"], [
                ["namespace", details.info.namespace],
                ["name", details.info.name],
                ["parent", details.info.parent ?? ""],
                ["kind", details.info.kind.description],
                ["created", ISO8601DateFormatter().string(from: details.info.created)],
                ["updated", ISO8601DateFormatter().string(from: details.info.updated)],
                ["labels", labelText(details.info.labels)],
                ["device", device.map { "\($0.id) \($0.state)\($0.path.map { " at \($0)" } ?? "")\($0.readOnly ? " read-only" : "")" } ?? "none"],
                ["device size", device.map { ByteCount.format(Int64($0.sizeBytes)) } ?? ""],
                ["device fault", device?.fault ?? ""],
                ["mounted on the host", mounted],
                ["written in this snapshot", ByteCount.format(space.exclusiveBytes)],
                ["shared with parent", ByteCount.format(space.sharedBytes)],
            ])
        }
    }

    struct Mounts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print how to mount an active snapshot or view.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var namespace: NamespaceOption
        @Argument(help: "Key.") var key: String

        func run() async throws {
            try printMounts(try await namespace.holding(key, in: try await global.openEngine()).mounts(key), global)
        }
    }

    struct Usage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Bytes and inodes a snapshot holds of its own.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var namespace: NamespaceOption
        @Argument(help: "Keys or names; all snapshots when none.") var keys: [String] = []

        func run() async throws {
            let engine = try await global.openEngine()
            var rows: [(SnapshotNamespace, String)] = []
            if keys.isEmpty {
                rows = try engine.list(namespace: namespace.namespace).map { (engine.snapshots(in: $0.namespace), $0.name) }
            } else {
                for key in keys { rows.append((try await namespace.holding(key, in: engine), key)) }
            }
            var usages: [(String, String, SnapshotUsage)] = []
            for (snapshots, key) in rows { usages.append((snapshots.name, key, try await snapshots.usage(key))) }
            if global.format == .json {
                return try printJSON(usages.map { ["namespace": $0.0, "name": $0.1, "size": "\($0.2.size)", "inodes": "\($0.2.inodes)"] })
            }
            printTable(["NAMESPACE", "NAME", "SIZE", "INODES"], usages.map { [$0.0, $0.1, ByteCount.format($0.2.size), "\($0.2.inodes)"] })
        }
    }
}

import ArgumentParser
import Foundation
import StorageCore

struct SnapshotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Create, commit, list and remove snapshots (in any namespace).",
        subcommands: [Prepare.self, View.self, Commit.self, Remove.self, List.self, Tree.self, Inspect.self,
                      Mounts.self, Usage.self, Label.self]
    )

    /// What Prepare and View share: a new key on an optional committed parent, with labels.
    struct NewSnapshot: ParsableArguments {
        @OptionGroup var global: GlobalOptions
        @OptionGroup var namespace: NamespaceOption
        @Argument(help: "Key of the new snapshot.") var key: String
        @Argument(help: "Committed parent (in the same namespace).") var parent: String?
        @Option(name: .customLong("label"), help: "Label KEY=VALUE (repeatable).") var labels: [String] = []

        func create(_ body: (SnapshotNamespace, [String: String]) async throws -> [Mount]) async throws {
            let snapshots = try await global.openEngine().snapshots(in: namespace.forNew)
            try printMounts(try await body(snapshots, try parseLabels(labels)), global)
        }
    }

    struct Prepare: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a writable snapshot and print its mount.")
        @OptionGroup var new: NewSnapshot
        @Option(help: "Device size (grows the parent's), e.g. 20GiB.") var size: ByteSize?

        func run() async throws {
            try await new.create { try await $0.prepare(new.key, parent: new.parent, labels: $1, size: size?.bytes) }
        }
    }

    struct View: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a read-only view of a committed snapshot and print its mount.")
        @OptionGroup var new: NewSnapshot

        func run() async throws {
            try await new.create { try await $0.view(new.key, parent: new.parent, labels: $1) }
        }
    }

    struct Commit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Commit an active snapshot under a name (unmount it first).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var namespace: NamespaceOption
        @Argument(help: "Name of the committed snapshot.") var name: String
        @Argument(help: "Key of the active snapshot.") var key: String
        @Option(name: .customLong("label"), help: "Label KEY=VALUE (repeatable).") var labels: [String] = []

        func run() async throws {
            let snapshots = try await namespace.holding(key, in: try await global.openEngine())
            try await snapshots.commit(name, key: key, labels: try parseLabels(labels))
            if !global.quiet { print(name) }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove snapshots (children first).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var namespace: NamespaceOption
        @Argument(help: "Keys or names to remove.") var keys: [String]

        func run() async throws {
            let engine = try await global.openEngine()
            for key in keys {
                try await namespace.holding(key, in: engine).remove(key)
                if !global.quiet { print(key) }
            }
            try await engine.returnFreedSpace()
        }
    }

    struct Label: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set (KEY=VALUE) or remove (KEY=) labels.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var namespace: NamespaceOption
        @Argument(help: "Key or name.") var key: String
        @Argument(help: "KEY=VALUE to set, KEY= to remove.") var labels: [String]

        func run() async throws {
            let changes = try parseLabels(labels)
            let info = SnapshotInfo(name: key, labels: changes.filter { !$0.value.isEmpty })
            let snapshots = try await namespace.holding(key, in: try await global.openEngine())
            let updated = try await snapshots.update(info, fieldPaths: changes.keys.map { "labels.\($0)" })
            if global.format == .json { return try printJSON(SnapshotJSON(updated)) }
            if !global.quiet { print(updated.labels.sorted { $0.key < $1.key }.map { "\($0)=\($1)" }.joined(separator: "\n")) }
        }
    }
}

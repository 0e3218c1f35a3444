import ArgumentParser
import Foundation
import KBSSystem
import StorageCore

struct LayerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "layer",
        abstract: "Layers as tar streams (OCI layer tars, with whiteouts).",
        subcommands: [Import.self, Export.self, Changes.self]
    )

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write an uncompressed layer tar into a new snapshot on PARENT and commit it as NAME.",
            discussion: """
                The tar's whiteouts (.wh.NAME, .wh..wh..opq) delete from the parent's files. Names with "..", \
                absolute names and links that reach outside the layer are refused; a refused tar leaves nothing behind.
                """
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var namespace: NamespaceOption
        @Argument(help: "Name of the new committed layer.") var name: String
        @Argument(help: "The layer tar, or - for standard input.") var tar: String
        @Option(help: "Committed parent layer (in the same namespace).") var parent: String?
        @Option(help: "Device size (grows the parent's), e.g. 20GiB.") var size: ByteSize?
        @Flag(help: "Leave the snapshot active (writable) instead of committing it.") var noCommit = false
        @Flag(help: "Leave owners the caller may not set as they fall (rootless).") var ignoreChownErrors = false

        func run() async throws {
            let input = tar == "-" ? FileHandle.standardInput : try FileHandle(forReadingFrom: URL(fileURLWithPath: tar))
            let snapshots = try await global.openEngine().snapshots(in: namespace.forNew)
            _ = try await snapshots.prepare(name, parent: parent, size: size?.bytes)
            let result: ApplyResult
            // Progress: how far into the tar the reader is (a file, not a pipe: a pipe has no position).
            let total = tar == "-" ? nil : try? Files.status(tar)?.size
            let fd = input.fileDescriptor
            do {
                result = try await TerminalProgress.whileRunning("importing \(name)", global, sample: {
                    Terminal.position(of: fd).map { TerminalProgress.bytes($0, of: total ?? nil) }
                }) {
                    try await snapshots.applyLayer(name, tar: fd, options: .init(ignoreChownErrors: ignoreChownErrors))
                }
                if !noCommit { try await snapshots.commit(name, key: name) }
            } catch {
                try? await snapshots.remove(name)
                throw error
            }
            if !global.quiet { print("\(name)\t\(result.members) members\t\(ByteSize(bytes: UInt64(result.dataBytes)))") }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write what a snapshot changed against its parent as an uncompressed OCI layer tar (deletions as whiteouts)."
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var namespace: NamespaceOption
        @Argument(help: "Key or name of the snapshot.") var key: String
        @Argument(help: "Where to write the tar, or - for standard output.") var tar: String

        func run() async throws {
            let snapshots = try await namespace.holding(key, in: try await global.openEngine())
            if tar == "-" {
                _ = try await snapshots.exportLayer(key, to: FileHandle.standardOutput.fileDescriptor)
                return
            }
            guard FileManager.default.createFile(atPath: tar, contents: nil), let output = FileHandle(forWritingAtPath: tar) else {
                throw ValidationError("cannot create \(tar)")
            }
            defer { try? output.close() }
            let path = tar
            let bytes = try await TerminalProgress.whileRunning("exporting \(key)", global, sample: {
                (try? Files.status(path)?.size).flatMap { $0 }.map { TerminalProgress.bytes($0, of: nil) + " written" }
            }) {
                try await snapshots.exportLayer(key, to: output.fileDescriptor)
            }
            if !global.quiet { print("\(tar)\t\(ByteSize(bytes: UInt64(bytes))) of file data") }
        }
    }

    struct Changes: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List what a snapshot changed against its parent (A added, C changed, D deleted).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var namespace: NamespaceOption
        @Argument(help: "Key or name of the snapshot.") var key: String

        func run() async throws {
            let snapshots = try await namespace.holding(key, in: try await global.openEngine())
            for change in try await snapshots.changes(key) { print(change) }
        }
    }
}

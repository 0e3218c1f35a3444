import ArgumentParser
import Foundation
import StorageCore

@main
struct Snapctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapctl",
        abstract: "Administer Kata Block Storage pools and snapshots.",
        discussion: "Snapshots are copy-on-write block devices with a filesystem, ready to hand to a VM guest.",
        version: Release.version,
        subcommands: [PoolCommand.self, SnapshotCommand.self, VolumeCommand.self, LayerCommand.self, DetectCommand.self, ServeCommand.self, FsckCommand.self, CleanupCommand.self]
    )

    /// Runs the command; engine errors are printed with what to do, in snapctl's words.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as StorageError {
            FileHandle.standardError.write(Data("Error: \(RemedyText.describe(error))\n".utf8))
            Foundation.exit(1)
        } catch {
            exit(withError: error)
        }
    }
}

import ArgumentParser
import StorageCore

struct CleanupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cleanup",
        abstract: "Delete devices no snapshot refers to, finish what crashed processes left, and report it."
    )
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let engine = try await global.openEngine()
        let report = try await engine.cleanup()
        try await engine.returnFreedSpace()
        if !global.quiet {
            print("orphan devices deleted: \(report.orphansDeleted); removals finished: \(report.finishedRemovals); devices missing from the backend: \(report.missingDevices)")
        }
    }
}

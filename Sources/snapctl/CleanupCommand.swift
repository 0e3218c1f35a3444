import ArgumentParser
import StorageCore

struct CleanupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cleanup",
        abstract: "Delete devices no snapshot refers to and report what was found."
    )
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let report = try global.openEngine().cleanup()
        if !global.quiet {
            print("orphan devices deleted: \(report.orphansDeleted); devices missing from the backend: \(report.missingDevices)")
        }
    }
}

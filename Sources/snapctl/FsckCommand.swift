import ArgumentParser
import Foundation
import StorageCore

struct FsckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fsck",
        abstract: "Check the snapshot graph, its indexes, device records and the backend against each other.",
        discussion: "Opening the pool first finishes or undoes calls a crash interrupted. Exits 1 when problems remain."
    )
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let problems = try global.openEngine().checkConsistency()
        if global.format == .json {
            try printJSON(problems.map { ["subject": $0.subject, "problem": $0.problem] })
        } else if !global.quiet {
            print(problems.isEmpty ? "pool is consistent" : problems.map(\.description).joined(separator: "\n"))
        }
        if !problems.isEmpty { throw ExitCode(1) }
    }
}

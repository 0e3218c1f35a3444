import ArgumentParser
import Foundation
import StorageCore

struct FsckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fsck",
        abstract: "Check the snapshot graph, its indexes, device records, the backend and host mounts against each other.",
        discussion: "Opening the pool first finishes or undoes calls that crashed processes left. Calls in progress in other processes are left alone. Exits 1 when problems remain."
    )
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let engine = try await global.openEngine()
        let snapshots = try engine.list().count
        let problems = try await TerminalProgress.whileRunning("checking \(snapshots) snapshots, their devices and mounts", global, sample: { nil }) {
            try await engine.checkConsistency()
        }
        if global.format == .json {
            try printJSON(problems.map { ["subject": $0.subject, "problem": $0.problem] })
        } else if !global.quiet {
            print(problems.isEmpty ? "pool is consistent" : problems.map(\.description).joined(separator: "\n"))
        }
        if !problems.isEmpty { throw ExitCode(1) }
    }
}

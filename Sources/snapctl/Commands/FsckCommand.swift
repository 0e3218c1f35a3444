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
        // The count walks the store: only for the progress line a person sees.
        let label = TerminalProgress.shows(global) ? "checking \(try engine.list().count) snapshots, their devices and mounts" : ""
        let problems = try await TerminalProgress.whileRunning(label, global, sample: { nil }) {
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

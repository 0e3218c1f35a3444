import Foundation
import KBSSystem
import StorageCore

/// A progress line on standard error while a long operation runs, redrawn every 200 ms, when
/// standard error is a terminal and the output is for a person (not --quiet, not --format json);
/// nothing at all otherwise, so scripts and logs see only the result.
enum TerminalProgress {
    static func shows(_ global: GlobalOptions) -> Bool { !global.quiet && global.format == .table && Terminal.standardErrorIsTerminal }

    /// Runs `work`, showing `label` and what `sample` says meanwhile; the line is cleared after.
    static func whileRunning<T: Sendable>(
        _ label: String, _ global: GlobalOptions, sample: @escaping @Sendable () -> String?, _ work: () async throws -> T
    ) async throws -> T {
        guard shows(global) else { return try await work() }
        let drawing = Task {
            var first = true
            while !Task.isCancelled {
                if !first { Terminal.writeToStandardError("\r\u{1B}[K\(label)\(sample().map { ": \($0)" } ?? "")") }
                first = false
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        defer {
            drawing.cancel()
            Terminal.writeToStandardError("\r\u{1B}[K")
        }
        return try await work()
    }

    /// "312.0MiB of 1.2GiB (25%)", or "312.0MiB" without a total.
    static func bytes(_ done: Int64, of total: Int64?) -> String {
        guard let total, total > 0 else { return ByteCount.format(done) }
        return "\(ByteCount.format(done)) of \(ByteCount.format(total)) (\(min(100, done * 100 / total))%)"
    }
}

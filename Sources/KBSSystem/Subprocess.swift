import Foundation
import Synchronization

/// A tool that could not be run or that failed.
public struct SubprocessError: Error, CustomStringConvertible, Sendable {
    public enum Reason: Sendable, Equatable {
        /// Not found in the search path.
        case notInstalled
        /// Could not be started.
        case notStarted(String)
        /// Exited with this status; `output` is what it printed on standard error.
        case failed(status: Int32, output: String)
    }

    public let tool: String
    public let arguments: [String]
    public let reason: Reason

    public var description: String {
        switch reason {
        case .notInstalled: "\(tool) is not installed"
        case .notStarted(let why): "cannot start \(tool): \(why)"
        case .failed(let status, let output):
            "\(tool) \(arguments.joined(separator: " ")) failed (exit \(status))\(output.isEmpty ? "" : ": \(output)")"
        }
    }
}

/// Runs the real tools the engine uses (`mkfs.ext4`, `mkfs.xfs`, `resize2fs`, `thin_ls`): the one
/// place processes are started.
public enum Subprocess {
    public static let searchPath = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]

    /// Runs `tool` (a name looked up in `searchPath`, or an absolute path) with `arguments` and
    /// returns what it printed on standard output.
    @discardableResult
    public static func run(_ tool: String, _ arguments: [String], captureOutput: Bool = false) throws(SubprocessError) -> String {
        let candidates = tool.hasPrefix("/") ? [tool] : searchPath.map { "\($0)/\(tool)" }
        guard let executable = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw SubprocessError(tool: tool, arguments: arguments, reason: .notInstalled)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        let results = Pipe()
        process.standardOutput = captureOutput ? results : FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw SubprocessError(tool: tool, arguments: arguments, reason: .notStarted("\(error)"))
        }
        // Standard error is drained on another thread so that neither pipe can fill and stall the tool.
        let complaint = SharedData()
        let drained = DispatchGroup()
        drained.enter()
        DispatchQueue.global().async {
            let data = errors.fileHandleForReading.readDataToEndOfFile()
            complaint.value.withLock { $0 = data }
            drained.leave()
        }
        let output = captureOutput ? results.fileHandleForReading.readDataToEndOfFile() : Data()
        drained.wait()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: complaint.value.withLock { $0 }, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw SubprocessError(tool: tool, arguments: arguments, reason: .failed(status: process.terminationStatus, output: text))
        }
        return String(decoding: output, as: UTF8.self)
    }
}


/// Bytes handed from a reader thread to the caller.
private final class SharedData: Sendable {
    let value = Mutex(Data())
}

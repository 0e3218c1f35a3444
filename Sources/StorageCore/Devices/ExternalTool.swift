import Foundation

/// Runs the real filesystem tools (`mkfs.ext4`, `mkfs.xfs`): the one place the engine starts processes.
enum ExternalTool {
    static let searchPath = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]

    /// Runs `tool` with `arguments`; throws with its stderr when it fails or is missing.
    static func run(_ tool: String, _ arguments: [String]) throws(StorageError) {
        _ = try output(tool, arguments, capture: false)
    }

    /// Runs `tool` with `arguments` and returns what it printed on standard output.
    static func output(_ tool: String, _ arguments: [String], capture: Bool = true) throws(StorageError) -> String {
        guard let executable = searchPath.map({ "\($0)/\(tool)" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw StorageError(.unavailable, "\(tool) is not installed; run scripts/install-deps.sh")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        let results = Pipe()
        process.standardOutput = capture ? results : FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw StorageError(.unavailable, "cannot start \(executable): \(error)")
        }
        let printed = capture ? results.fileHandleForReading.readDataToEndOfFile() : Data()
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw StorageError(.internal, "\(tool) \(arguments.joined(separator: " ")) failed (exit \(process.terminationStatus)): \(text)")
        }
        return String(decoding: printed, as: UTF8.self)
    }
}

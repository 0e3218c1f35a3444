import ArgumentParser
import Foundation
import StorageCore
import TOMLKit

struct DetectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Tell which way a VM runtime (Kata) hands a container's rootfs to its guest: block device or shared filesystem.",
        discussion: """
            PATH is a rootfs as CRI-O hands it (the OCI root.path): Kata 3.3.0 and later walk up to its mount point and \
            hot-plug the block device under it. --mounts is a containerd mount list as the shim receives it, JSON \
            ([{"type":"ext4","source":"/dev/loop3","options":[]}], or @FILE, or - for standard input): a single mount \
            of a block device is hot-plugged as it is. Exits 0 for block, 3 for shared-fs.
            """
    )

    @Argument(help: "The container's rootfs path.")
    var path: String?

    @Option(name: .long, help: "A containerd mount list, as JSON text, @FILE or - (standard input).")
    var mounts: String?

    @Option(name: .long, help: "Kata's configuration.toml: its disable_block_device_use is honoured.")
    var kataConfig: String?

    @Option(name: .long, help: "Output format: table or json.")
    var format: OutputFormat = .table

    @Flag(name: .shortAndLong, help: "Print only block or shared-fs.")
    var quiet = false

    func validate() throws {
        guard (path == nil) != (mounts == nil) else { throw ValidationError("give a rootfs PATH or --mounts, one of them") }
    }

    func run() async throws {
        let disabled = try kataConfig.map(Self.blockDeviceUseDisabled(configuration:)) ?? false
        let result: HypervisorPath
        if let path {
            result = try HypervisorPath.detect(rootfsPath: path, blockDeviceUseDisabled: disabled)
        } else {
            result = try HypervisorPath.detect(mounts: try Self.mountList(mounts ?? "-"), blockDeviceUseDisabled: disabled)
        }
        if format == .json {
            try printJSON(result)
        } else if quiet {
            print(result.transport.rawValue)
        } else {
            printFields([
                ("subject", result.subject),
                ("path", result.transport.rawValue),
                ("device", result.device.map { "\($0) (\(result.deviceNumber ?? "?"))" } ?? "-"),
                ("kind", result.deviceKind?.rawValue ?? "-"),
                ("filesystem", result.filesystem ?? "-"),
                ("mount point", result.mountPoint ?? "-"),
                ("kata 3.3.0+", result.transport == .block ? "hot-plugs the device" : "shares the directory"),
                ("kata < 3.3.0", result.blockBefore3_3 ? "hot-plugs the device" : "shares the directory (block only for device-mapper)"),
            ] + result.reasons.map { ("why", $0) })
        }
        if result.transport != .block { throw ExitCode(3) }
    }

    /// A containerd mount list: `type`, `source` and `options` of each (Go's field names are
    /// accepted too, as `ctr` and the shim's logs print them).
    static func mountList(_ argument: String) throws -> [Mount] {
        let data: Data
        switch argument {
        case "-": data = FileHandle.standardInput.readDataToEndOfFile()
        case let file where file.hasPrefix("@"): data = try Data(contentsOf: URL(fileURLWithPath: String(file.dropFirst())))
        default: data = Data(argument.utf8)
        }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw ValidationError("--mounts is not JSON: \(error.localizedDescription)")
        }
        guard let list = parsed as? [[String: Any]] else {
            throw ValidationError("--mounts is not a JSON list of mounts, e.g. [{\"type\":\"ext4\",\"source\":\"/dev/loop3\",\"options\":[]}]")
        }
        return try list.map { raw in
            let fields = Dictionary(raw.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
            guard let type = fields["type"] as? String, let source = fields["source"] as? String else {
                throw ValidationError("each mount needs a type and a source")
            }
            return Mount(type: type, source: source, options: fields["options"] as? [String] ?? [])
        }
    }

    /// Whether Kata's configuration sets `disable_block_device_use = true` in any table (it sits
    /// under `[hypervisor.<name>]`).
    static func blockDeviceUseDisabled(configuration path: String) throws -> Bool {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch {
            throw ValidationError("\(path) is not valid TOML: \(error)")
        }
        func find(_ table: TOMLTable) -> Bool {
            table.keys.contains { key in
                key == "disable_block_device_use" ? table[key]?.bool == true : table[key]?.table.map(find) ?? false
            }
        }
        return find(table)
    }
}

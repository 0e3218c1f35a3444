import ArgumentParser
import Foundation
import StorageCore

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

func printTable(_ header: [String], _ rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    for row in all {
        let cells = row.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }
        print(cells.joined(separator: "  "))
    }
}

/// Name and value pairs, one a line, the values aligned.
func printFields(_ rows: [(String, String)]) {
    let width = rows.map(\.0.count).max() ?? 0
    for (name, value) in rows { print(name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value) }
}

func printMounts(_ mounts: [Mount], _ global: GlobalOptions) throws {
    if global.format == .json { return try printJSON(mounts) }
    for mount in mounts {
        print(global.quiet ? mount.source : "\(mount.type) \(mount.source) \(mount.options.isEmpty ? "defaults" : mount.options.joined(separator: ","))")
    }
}

/// `KEY=VALUE` arguments as labels; with `allowEmpty`, `KEY=` names a label to remove.
func parseLabels(_ pairs: [String], allowEmpty: Bool = true) throws -> [String: String] {
    var labels: [String: String] = [:]
    for pair in pairs {
        let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, allowEmpty || !parts[1].isEmpty else {
            throw ValidationError("labels are KEY=VALUE\(allowEmpty ? "" : " with a value"), got \"\(pair)\"")
        }
        labels[parts[0]] = parts[1]
    }
    return labels
}

func labelText(_ labels: [String: String]) -> String {
    labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
}

struct SnapshotJSON: Encodable {
    var namespace: String
    var name: String
    var parent: String?
    var kind: String
    var labels: [String: String]
    var created: Date
    var updated: Date

    init(_ info: SnapshotInfo) {
        namespace = info.namespace
        name = info.name
        parent = info.parent
        kind = info.kind.description
        labels = info.labels
        created = info.created
        updated = info.updated
    }
}

struct InspectJSON: Encodable {
    var snapshot: SnapshotJSON
    var deviceID: UInt32?
    var deviceState: String?
    var devicePath: String?
    var deviceSize: UInt64?
    var readOnly: Bool?
    var fault: String?
    var mountedAt: String?
    var mountUsers: Int?
    var writtenBytes: Int64
    var sharedWithParentBytes: Int64

    init(_ details: SnapshotDetails, _ space: DeviceUsage) {
        snapshot = SnapshotJSON(details.info)
        deviceID = details.device?.id
        deviceState = details.device?.state.description
        devicePath = details.device?.path
        deviceSize = details.device?.sizeBytes
        readOnly = details.device?.readOnly
        fault = details.device?.fault
        mountedAt = details.device?.mountedAt
        mountUsers = details.device?.mountUsers
        writtenBytes = space.exclusiveBytes
        sharedWithParentBytes = space.sharedBytes
    }
}

/// Data space, with the part the pool's own filesystem takes and the `min_free` floor.
private func dataLine(_ status: PoolStatus) -> String {
    var line = "\(ByteCount.format(status.data.usedBytes)) used of \(ByteCount.format(status.data.totalBytes))"
    if let overhead = status.host?.filesystemOverheadBytes {
        line += " (\(ByteCount.format(overhead)) of it the pool filesystem's own metadata)"
    }
    if let minFree = status.minFree, minFree > 0 {
        line += String(format: "; new snapshots refused below %.0f%% free", 100 * minFree)
    }
    return line
}

func printStatus(_ status: PoolStatus, _ global: GlobalOptions) throws {
    if global.format == .json { return try printJSON(status) }
    if global.quiet { return }
    var rows: [[String]] = [
        ["backend", "\(status.backend) (\(status.layout))"],
        ["filesystem", status.filesystem.rawValue],
        ["device size", ByteCount.format(Int64(status.defaultDeviceSize))],
        ["data", dataLine(status)],
        ["metadata", "\(ByteCount.format(status.metadata.usedBytes)) used of \(ByteCount.format(status.metadata.totalBytes))"],
    ]
    if let host = status.host {
        rows.append(["on the host", "\(ByteCount.format(host.allocatedBytes)) occupied by the pool; \(ByteCount.format(host.hostFreeBytes)) free on its filesystem"])
    }
    if let growth = status.autoGrow {
        let limit = growth.limit == 0 ? "while the host filesystem has room" : "up to \(ByteCount.format(Int64(growth.limit)))"
        rows.append(["growth", String(format: "by %@ when less than %.0f%% is free, %@", ByteCount.format(Int64(growth.step)), 100 * growth.threshold, limit)])
    }
    if let pool = status.poolMetadata {
        rows.append(["pool metadata", "\(ByteCount.format(pool.usedBytes)) used of \(ByteCount.format(pool.totalBytes))"])
    }
    let namespaces = status.snapshotsByNamespace.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
    rows.append(["snapshots", "\(status.snapshots)\(namespaces.isEmpty ? "" : " (\(namespaces))")"])
    rows.append(["volumes", "\(status.volumes) (\(ByteCount.format(Int64(status.volumeBytes))) provisioned)"])
    rows.append(["devices", "\(status.devices) (\(status.faultyDevices) faulty)"])
    rows.append(["version", "kata-block \(status.version)"])
    printTable(["FIELD", "VALUE"], rows)
}

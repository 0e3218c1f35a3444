import Foundation

/// What a snapshot is, in containerd's terms.
public enum SnapshotKind: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Writable; the only kind that can be committed.
    case active = 1
    /// Read-only view of a committed snapshot; never committed.
    case view = 2
    /// Immutable; the only kind that can be a parent.
    case committed = 3

    public var description: String {
        switch self {
        case .active: "active"
        case .view: "view"
        case .committed: "committed"
        }
    }

    public init?(name: String) {
        guard let kind = Self.allCases.first(where: { $0.description == name.lowercased() }) else { return nil }
        self = kind
    }
}

/// One snapshot of the graph as stored: identity, place in the graph, kind, labels and its device.
struct SnapshotRecord: Sendable, Equatable {
    static let formatVersion: UInt8 = 1

    var id: UInt64
    var name: String
    /// Stored id of the parent, 0 for none.
    var parentID: UInt64
    var kind: SnapshotKind
    var deviceID: UInt32
    var created: Int64
    var updated: Int64
    var labels: [String: String]

    func encoded() -> [UInt8] {
        var w = RecordWriter(capacity: 64 + name.utf8.count)
        w.write(Self.formatVersion)
        w.write(id)
        w.write(parentID)
        w.write(kind.rawValue)
        w.write(deviceID)
        w.write(created)
        w.write(updated)
        w.write(name)
        w.write(labels)
        return w.bytes
    }

    init(id: UInt64, name: String, parentID: UInt64, kind: SnapshotKind, deviceID: UInt32,
         created: Int64, updated: Int64, labels: [String: String]) {
        self.id = id
        self.name = name
        self.parentID = parentID
        self.kind = kind
        self.deviceID = deviceID
        self.created = created
        self.updated = updated
        self.labels = labels
    }

    init(decoding raw: UnsafeRawBufferPointer) throws(StorageError) {
        var r = RecordReader(raw, what: "snapshot")
        let version: UInt8 = try r.read()
        guard version == Self.formatVersion else {
            throw StorageError(.internal, "snapshot record format \(version) is newer than this snapctl understands; upgrade snapctl")
        }
        id = try r.read()
        parentID = try r.read()
        guard let k = SnapshotKind(rawValue: try r.read()) else {
            throw StorageError(.internal, "snapshot record has an unknown kind; run `snapctl fsck`")
        }
        kind = k
        deviceID = try r.read()
        created = try r.read()
        updated = try r.read()
        name = try r.readString()
        labels = try r.readLabels()
    }
}

/// Nanoseconds since the epoch, the stored form of every timestamp.
func nowNanoseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

extension Date {
    init(nanosecondsSinceEpoch ns: Int64) {
        self.init(timeIntervalSince1970: Double(ns) / 1e9)
    }
}

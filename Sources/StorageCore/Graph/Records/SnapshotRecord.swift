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

/// One snapshot of the graph as stored: identity, namespace, place in the graph, kind, labels and device.
struct SnapshotRecord: Sendable, Equatable {
    static let formatVersion: UInt8 = 2

    var id: UInt64
    /// The frontend's key space ("containerd", "containers-storage", ...); names are unique within it.
    var namespace: String
    var name: String
    /// Stored id of the parent (same namespace), 0 for none.
    var parentID: UInt64
    var kind: SnapshotKind
    var deviceID: UInt32
    var created: Int64
    var updated: Int64
    var labels: [String: String]

    func encoded() -> [UInt8] {
        var w = RecordWriter(capacity: 64 + namespace.utf8.count + name.utf8.count)
        w.write(Self.formatVersion)
        w.write(id)
        w.write(parentID)
        w.write(kind.rawValue)
        w.write(deviceID)
        w.write(created)
        w.write(updated)
        w.write(namespace)
        w.write(name)
        w.write(labels)
        return w.bytes
    }

    init(id: UInt64, namespace: String, name: String, parentID: UInt64, kind: SnapshotKind, deviceID: UInt32,
         created: Int64, updated: Int64, labels: [String: String]) {
        self.id = id
        self.namespace = namespace
        self.name = name
        self.parentID = parentID
        self.kind = kind
        self.deviceID = deviceID
        self.created = created
        self.updated = updated
        self.labels = labels
    }

    /// Decodes format 2, or format 1 (schema 1, before namespaces) into `legacyNamespace`.
    init(decoding raw: UnsafeRawBufferPointer, legacyNamespace: String? = nil) throws(StorageError) {
        var r = RecordReader(raw, what: "snapshot")
        let version = try r.version(legacyNamespace == nil ? 2...2 : 1...2)
        id = try r.read()
        parentID = try r.read()
        guard let k = SnapshotKind(rawValue: try r.read()) else { throw StorageError.inconsistent("a snapshot record has an unknown kind") }
        kind = k
        deviceID = try r.read()
        created = try r.read()
        updated = try r.read()
        namespace = version == 1 ? legacyNamespace! : try r.readString()
        name = try r.readString()
        labels = try r.readLabels()
    }
}

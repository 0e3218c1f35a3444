import Foundation

/// A snapshot as frontends see it (containerd's `Info`), with the namespace it belongs to.
public struct SnapshotInfo: Sendable, Equatable {
    /// The key of an active snapshot or view, or the name of a committed one.
    public var name: String
    /// The frontend key space it lives in ("containerd", "containers-storage", ...).
    public var namespace: String
    /// Name of the committed parent, if any.
    public var parent: String?
    public var kind: SnapshotKind
    public var labels: [String: String]
    public var created: Date
    public var updated: Date

    public init(name: String, namespace: String = "", parent: String? = nil, kind: SnapshotKind = .active, labels: [String: String] = [:],
                created: Date = Date(timeIntervalSince1970: 0), updated: Date = Date(timeIntervalSince1970: 0)) {
        self.name = name
        self.namespace = namespace
        self.parent = parent
        self.kind = kind
        self.labels = labels
        self.created = created
        self.updated = updated
    }

    init(_ record: SnapshotRecord, parent: String?) {
        self.init(name: record.name, namespace: record.namespace, parent: parent, kind: record.kind, labels: record.labels,
                  created: Date(nanosecondsSinceEpoch: record.created), updated: Date(nanosecondsSinceEpoch: record.updated))
    }
}

/// Space a snapshot holds of its own (containerd's `Usage`).
public struct SnapshotUsage: Sendable, Equatable, Codable {
    /// Bytes written in this snapshot and not shared with its parent.
    public var size: Int64
    /// Inodes added relative to the parent.
    public var inodes: Int64

    public init(size: Int64, inodes: Int64) {
        self.size = size
        self.inodes = inodes
    }
}

extension Date {
    init(nanosecondsSinceEpoch ns: Int64) {
        self.init(timeIntervalSince1970: Double(ns) / 1e9)
    }
}

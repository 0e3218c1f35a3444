import Foundation

/// A snapshot as frontends see it (containerd's `Info`).
public struct SnapshotInfo: Sendable, Equatable {
    /// The key of an active snapshot or view, or the name of a committed one.
    public var name: String
    /// Name of the committed parent, if any.
    public var parent: String?
    public var kind: SnapshotKind
    public var labels: [String: String]
    public var created: Date
    public var updated: Date

    public init(name: String, parent: String? = nil, kind: SnapshotKind = .active, labels: [String: String] = [:],
                created: Date = Date(timeIntervalSince1970: 0), updated: Date = Date(timeIntervalSince1970: 0)) {
        self.name = name
        self.parent = parent
        self.kind = kind
        self.labels = labels
        self.created = created
        self.updated = updated
    }

    init(_ record: SnapshotRecord, parent: String?) {
        self.init(name: record.name, parent: parent, kind: record.kind, labels: record.labels,
                  created: Date(nanosecondsSinceEpoch: record.created), updated: Date(nanosecondsSinceEpoch: record.updated))
    }
}

/// How to mount a snapshot: a block device with a filesystem, handed to the guest as is.
public struct Mount: Sendable, Equatable, Codable {
    /// Filesystem type ("ext4", "xfs").
    public var type: String
    /// Block device path.
    public var source: String
    public var options: [String]

    public init(type: String, source: String, options: [String]) {
        self.type = type
        self.source = source
        self.options = options
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

/// A snapshot with its device, for administrators.
public struct SnapshotDetails: Sendable, Equatable {
    public var info: SnapshotInfo
    public var device: DeviceRecord?
    public var mountedAt: String?
}

/// Space and contents of a pool.
public struct PoolStatus: Sendable, Equatable, Codable {
    public var backend: String
    public var layout: String
    public var filesystem: FilesystemType
    public var defaultDeviceSize: UInt64
    public var data: SpaceUsage
    public var metadata: SpaceUsage
    /// The pool's own metadata (thin-pool metadata device); nil for backends without one.
    public var poolMetadata: SpaceUsage?
    public var snapshots: Int
    public var devices: Int
    public var faultyDevices: Int
}

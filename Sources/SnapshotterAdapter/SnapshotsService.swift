import Foundation
import Logging
import StorageCore
import SwiftProtobuf

/// containerd's snapshots service over the engine: decode the request, call the core, encode the
/// answer. It sees only its own namespace of the pool (containerd's garbage collector removes
/// every snapshot it has no record of, so it must never see another frontend's). Errors map to
/// gRPC codes in `RPCErrorMapping.swift` and nowhere else.
public struct SnapshotsService: Sendable {
    static let listBatch = 1_000

    /// Label that sets a new writable snapshot's device size, e.g. "20GiB".
    public static let sizeLabel = "containerd.io/snapshot/kata-block.size"
    /// The namespace containerd's snapshots live in unless configured otherwise.
    public static let defaultNamespace = "containerd"

    private let snapshots: SnapshotNamespace
    private let logger: Logger
    private let asyncRemove: Bool

    /// With `asyncRemove`, Remove returns once the snapshot is gone and its device is deleted by
    /// the engine's maintenance.
    public init(engine: StorageEngine, namespace: String = SnapshotsService.defaultNamespace, logger: Logger, asyncRemove: Bool = false) {
        snapshots = engine.snapshots(in: namespace)
        self.logger = logger
        self.asyncRemove = asyncRemove
    }

    /// Runs one engine call and logs the RPC, key, outcome and duration.
    private func call<T: Sendable>(_ rpc: String, _ key: String, _ body: () async throws(StorageError) -> T) async throws -> T {
        let start = ContinuousClock.now
        do throws(StorageError) {
            let result = try await body()
            logged(rpc, key, start, nil)
            return result
        } catch {
            logged(rpc, key, start, error)
            throw error
        }
    }

    /// `call` for reads that run in place (answered on the server's event loop).
    private func read<T>(_ rpc: String, _ key: String, _ body: () throws(StorageError) -> T) throws -> T {
        let start = ContinuousClock.now
        do throws(StorageError) {
            let result = try body()
            logged(rpc, key, start, nil)
            return result
        } catch {
            logged(rpc, key, start, error)
            throw error
        }
    }

    private func logged(_ rpc: String, _ key: String, _ start: ContinuousClock.Instant, _ error: StorageError?) {
        if let error {
            logger.info("rpc refused", metadata: [
                "rpc": "\(rpc)", "key": "\(key)", "code": "\(error.code)", "error": "\(error.message)",
                "ms": "\(milliseconds(since: start))",
            ])
        } else if logger.logLevel <= .debug {
            logger.debug("rpc", metadata: ["rpc": "\(rpc)", "key": "\(key)", "ms": "\(milliseconds(since: start))"])
        }
    }

    private func milliseconds(since start: ContinuousClock.Instant) -> String {
        let d = ContinuousClock.now - start
        return String(format: "%.2f", Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15)
    }

    public func prepare(
        request: Containerd_Services_Snapshots_V1_PrepareSnapshotRequest
    ) async throws -> Containerd_Services_Snapshots_V1_PrepareSnapshotResponse {
        let (key, parent, labels) = (request.key, request.parent.nilIfEmpty, request.labels)
        let size = try Self.deviceSize(labels)
        let mounts = try await call("Prepare", key) { () async throws(StorageError) in
            try await snapshots.prepare(key, parent: parent, labels: labels, size: size)
        }
        return .with { $0.mounts = mounts.map(Self.encode) }
    }

    public func view(
        request: Containerd_Services_Snapshots_V1_ViewSnapshotRequest
    ) async throws -> Containerd_Services_Snapshots_V1_ViewSnapshotResponse {
        let (key, parent, labels) = (request.key, request.parent.nilIfEmpty, request.labels)
        let mounts = try await call("View", key) { () async throws(StorageError) in try await snapshots.view(key, parent: parent, labels: labels) }
        return .with { $0.mounts = mounts.map(Self.encode) }
    }

    public func mounts(
        request: Containerd_Services_Snapshots_V1_MountsRequest
    ) async throws -> Containerd_Services_Snapshots_V1_MountsResponse {
        let key = request.key
        let mounts = try await call("Mounts", key) { () async throws(StorageError) in try await snapshots.mounts(key) }
        return .with { $0.mounts = mounts.map(Self.encode) }
    }

    /// Mounts of a snapshot whose device is attached, from the store alone; nil: `mounts` attaches it.
    public func attachedMounts(request: Containerd_Services_Snapshots_V1_MountsRequest) throws -> Containerd_Services_Snapshots_V1_MountsResponse? {
        let key = request.key
        guard let mounts = try read("Mounts", key, { () throws(StorageError) in try snapshots.attachedMounts(key) }) else { return nil }
        return .with { $0.mounts = mounts.map(Self.encode) }
    }

    public func commit(
        request: Containerd_Services_Snapshots_V1_CommitSnapshotRequest
    ) async throws -> Google_Protobuf_Empty {
        let (name, key, labels) = (request.name, request.key, request.labels)
        try await call("Commit", key) { () async throws(StorageError) in try await snapshots.commit(name, key: key, labels: labels) }
        return Google_Protobuf_Empty()
    }

    public func remove(
        request: Containerd_Services_Snapshots_V1_RemoveSnapshotRequest
    ) async throws -> Google_Protobuf_Empty {
        let (key, deferred) = (request.key, asyncRemove)
        try await call("Remove", key) { () async throws(StorageError) in try await snapshots.remove(key, deferDeviceDeletion: deferred) }
        return Google_Protobuf_Empty()
    }

    public func stat(
        request: Containerd_Services_Snapshots_V1_StatSnapshotRequest
    ) throws -> Containerd_Services_Snapshots_V1_StatSnapshotResponse {
        let key = request.key
        let info = try read("Stat", key) { () throws(StorageError) in try snapshots.stat(key) }
        return .with { $0.info = Self.encode(info) }
    }

    public func update(
        request: Containerd_Services_Snapshots_V1_UpdateSnapshotRequest
    ) async throws -> Containerd_Services_Snapshots_V1_UpdateSnapshotResponse {
        let info = SnapshotInfo(name: request.info.name, labels: request.info.labels)
        let paths = request.hasUpdateMask ? request.updateMask.paths : []
        let updated = try await call("Update", info.name) { () async throws(StorageError) in try await snapshots.update(info, fieldPaths: paths) }
        return .with { $0.info = Self.encode(updated) }
    }

    /// Every matching snapshot, in responses of up to 1,000 infos (well under the 4 MiB message
    /// limit): fewer, larger writes.
    public func list(
        request: Containerd_Services_Snapshots_V1_ListSnapshotsRequest
    ) throws -> [Containerd_Services_Snapshots_V1_ListSnapshotsResponse] {
        let filter = try FilterSyntax.parse(request.filters)
        let infos = try read("List", request.filters.joined(separator: " | ")) { () throws(StorageError) in try snapshots.list(filter) }
        return stride(from: 0, to: infos.count, by: Self.listBatch).map { start in
            .with { $0.info = infos[start..<min(start + Self.listBatch, infos.count)].map(Self.encode) }
        }
    }

    public func usage(
        request: Containerd_Services_Snapshots_V1_UsageRequest
    ) async throws -> Containerd_Services_Snapshots_V1_UsageResponse {
        let key = request.key
        let usage = try await call("Usage", key) { () async throws(StorageError) in try await snapshots.usage(key) }
        return .with {
            $0.size = usage.size
            $0.inodes = usage.inodes
        }
    }

    public func cleanup(
        request: Containerd_Services_Snapshots_V1_CleanupRequest
    ) async throws -> Google_Protobuf_Empty {
        let report = try await call("Cleanup", "") { () async throws(StorageError) in try await snapshots.engine.cleanup() }
        if report.changedAnything {
            logger.info("cleanup", metadata: ["orphansDeleted": "\(report.orphansDeleted)"])
        }
        return Google_Protobuf_Empty()
    }

    // MARK: encoding

    static func encode(_ mount: Mount) -> Containerd_Types_Mount {
        .with {
            $0.type = mount.type
            $0.source = mount.source
            $0.options = mount.options
        }
    }

    static func encode(_ info: SnapshotInfo) -> Containerd_Services_Snapshots_V1_Info {
        .with {
            $0.name = info.name
            $0.parent = info.parent ?? ""
            $0.kind = switch info.kind {
            case .active: .active
            case .view: .view
            case .committed: .committed
            }
            $0.createdAt = Google_Protobuf_Timestamp(date: info.created)
            $0.updatedAt = Google_Protobuf_Timestamp(date: info.updated)
            $0.labels = info.labels
        }
    }

    /// The device size asked for by the size label, if any.
    static func deviceSize(_ labels: [String: String]) throws(StorageError) -> UInt64? {
        guard let text = labels[sizeLabel] else { return nil }
        guard let bytes = ByteCount.parse(text) else {
            throw StorageError(.invalidArgument, "label \(sizeLabel)=\"\(text)\" is not a size; use e.g. 20GiB or 512MiB")
        }
        return bytes
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}


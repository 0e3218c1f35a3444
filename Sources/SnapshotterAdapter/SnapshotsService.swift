import Foundation
import GRPCCore
import Logging
import StorageCore
import SwiftProtobuf

typealias Snapshots = Containerd_Services_Snapshots_V1_Snapshots

/// containerd's snapshots service over the engine: decode the request, call the core, encode the
/// answer. Errors map to gRPC codes in `ErrorMapping.swift` and nowhere else.
public struct SnapshotsService: Snapshots.SimpleServiceProtocol {
    static let listBatch = 1_000

    /// Label that sets a new writable snapshot's device size, e.g. "20GiB".
    public static let sizeLabel = "containerd.io/snapshot/kata-block.size"

    private let engine: StorageEngine
    private let logger: Logger
    private let asyncRemove: Bool
    private let offload = EngineOffload()

    /// With `asyncRemove`, Remove returns once the snapshot is gone and its device is deleted by a `DeviceReaper`.
    public init(engine: StorageEngine, logger: Logger, asyncRemove: Bool = false) {
        self.engine = engine
        self.logger = logger
        self.asyncRemove = asyncRemove
    }

    /// Runs one engine call and logs the RPC, key, outcome and duration. Calls that may block on the
    /// kernel (clone, attach, detach, delete, extents) run off the cooperative pool; reads of the
    /// memory-mapped store (`blocking: false`) run in place, which is cheaper than a thread hop.
    private func call<T: Sendable>(
        _ rpc: String, _ key: String, blocking: Bool = true, _ body: @escaping @Sendable () throws(StorageError) -> T
    ) async throws -> T {
        let start = ContinuousClock.now
        do {
            let result = blocking ? try await offload.run(body) : try body()
            logger.debug("rpc", metadata: ["rpc": "\(rpc)", "key": "\(key)", "ms": "\(milliseconds(since: start))"])
            return result
        } catch {
            logger.info("rpc refused", metadata: [
                "rpc": "\(rpc)", "key": "\(key)", "code": "\(error.code)", "error": "\(error.message)",
                "ms": "\(milliseconds(since: start))",
            ])
            throw error
        }
    }

    private func milliseconds(since start: ContinuousClock.Instant) -> String {
        let d = ContinuousClock.now - start
        return String(format: "%.2f", Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15)
    }

    public func prepare(
        request: Containerd_Services_Snapshots_V1_PrepareSnapshotRequest, context: ServerContext
    ) async throws -> Containerd_Services_Snapshots_V1_PrepareSnapshotResponse {
        let (key, parent, labels) = (request.key, request.parent.nilIfEmpty, request.labels)
        let size = try Self.deviceSize(labels)
        let mounts = try await call("Prepare", key) { () throws(StorageError) in
            try engine.prepare(key, parent: parent, labels: labels, size: size)
        }
        return .with { $0.mounts = mounts.map(Self.encode) }
    }

    public func view(
        request: Containerd_Services_Snapshots_V1_ViewSnapshotRequest, context: ServerContext
    ) async throws -> Containerd_Services_Snapshots_V1_ViewSnapshotResponse {
        let (key, parent, labels) = (request.key, request.parent.nilIfEmpty, request.labels)
        let mounts = try await call("View", key) { () throws(StorageError) in try engine.view(key, parent: parent, labels: labels) }
        return .with { $0.mounts = mounts.map(Self.encode) }
    }

    public func mounts(
        request: Containerd_Services_Snapshots_V1_MountsRequest, context: ServerContext
    ) async throws -> Containerd_Services_Snapshots_V1_MountsResponse {
        let key = request.key
        // Attached devices answer from the store; only a detached one (after a reboot) needs the kernel.
        let attached = try await call("Mounts", key, blocking: false) { () throws(StorageError) in try engine.attachedMounts(key) }
        let mounts = try await attached.asyncOr { try await call("Mounts", key) { () throws(StorageError) in try engine.mounts(key) } }
        return .with { $0.mounts = mounts.map(Self.encode) }
    }

    public func commit(
        request: Containerd_Services_Snapshots_V1_CommitSnapshotRequest, context: ServerContext
    ) async throws -> Google_Protobuf_Empty {
        let (name, key, labels) = (request.name, request.key, request.labels)
        try await call("Commit", key) { () throws(StorageError) in try engine.commit(name, key: key, labels: labels) }
        return Google_Protobuf_Empty()
    }

    public func remove(
        request: Containerd_Services_Snapshots_V1_RemoveSnapshotRequest, context: ServerContext
    ) async throws -> Google_Protobuf_Empty {
        let (key, deferred) = (request.key, asyncRemove)
        try await call("Remove", key) { () throws(StorageError) in try engine.remove(key, deferDeviceDeletion: deferred) }
        return Google_Protobuf_Empty()
    }

    public func stat(
        request: Containerd_Services_Snapshots_V1_StatSnapshotRequest, context: ServerContext
    ) async throws -> Containerd_Services_Snapshots_V1_StatSnapshotResponse {
        let key = request.key
        let info = try await call("Stat", key, blocking: false) { () throws(StorageError) in try engine.stat(key) }
        return .with { $0.info = Self.encode(info) }
    }

    public func update(
        request: Containerd_Services_Snapshots_V1_UpdateSnapshotRequest, context: ServerContext
    ) async throws -> Containerd_Services_Snapshots_V1_UpdateSnapshotResponse {
        let info = SnapshotInfo(name: request.info.name, labels: request.info.labels)
        let paths = request.hasUpdateMask ? request.updateMask.paths : []
        let updated = try await call("Update", info.name) { () throws(StorageError) in try engine.update(info, fieldPaths: paths) }
        return .with { $0.info = Self.encode(updated) }
    }

    public func list(
        request: Containerd_Services_Snapshots_V1_ListSnapshotsRequest,
        response: RPCWriter<Containerd_Services_Snapshots_V1_ListSnapshotsResponse>,
        context: ServerContext
    ) async throws {
        let filter = try FilterSyntax.parse(request.filters)
        let infos = try await call("List", request.filters.joined(separator: " | "), blocking: false) { () throws(StorageError) in
            try engine.list(filter)
        }
        // Batches of up to 1,000 infos (well under the 4 MiB message limit): fewer, larger writes.
        var start = 0
        while start < infos.count {
            try Task.checkCancellation()
            let batch = infos[start..<min(start + Self.listBatch, infos.count)]
            try await response.write(.with { $0.info = batch.map(Self.encode) })
            start += batch.count
        }
    }

    public func usage(
        request: Containerd_Services_Snapshots_V1_UsageRequest, context: ServerContext
    ) async throws -> Containerd_Services_Snapshots_V1_UsageResponse {
        let key = request.key
        let usage = try await call("Usage", key) { () throws(StorageError) in try engine.usage(key) }
        return .with {
            $0.size = usage.size
            $0.inodes = usage.inodes
        }
    }

    public func cleanup(
        request: Containerd_Services_Snapshots_V1_CleanupRequest, context: ServerContext
    ) async throws -> Google_Protobuf_Empty {
        let report = try await call("Cleanup", "") { () throws(StorageError) in try engine.cleanup() }
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

extension Optional where Wrapped: Sendable {
    /// The value, or what `fallback` computes when there is none.
    func asyncOr(_ fallback: () async throws -> Wrapped) async rethrows -> Wrapped {
        if let value = self { return value }
        return try await fallback()
    }
}

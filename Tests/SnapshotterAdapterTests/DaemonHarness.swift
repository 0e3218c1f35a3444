import Foundation
import Logging
import Testing
@testable import SnapshotterAdapter
@testable import StorageCore
import SwiftProtobuf

/// containerd's snapshots API as the tests call it, over `RPCTestClient`.
struct SnapshotsClient: Sendable {
    let rpc: RPCTestClient

    private func unary<Response: SwiftProtobuf.Message>(_ method: String, _ request: some SwiftProtobuf.Message) async throws -> Response {
        guard let response = try await rpc.call(method, request, as: Response.self).first else {
            throw RPCStatus(.internalError, "\(method) answered no message")
        }
        return response
    }

    func prepare(_ r: Containerd_Services_Snapshots_V1_PrepareSnapshotRequest) async throws -> Containerd_Services_Snapshots_V1_PrepareSnapshotResponse { try await unary("Prepare", r) }
    func view(_ r: Containerd_Services_Snapshots_V1_ViewSnapshotRequest) async throws -> Containerd_Services_Snapshots_V1_ViewSnapshotResponse { try await unary("View", r) }
    func mounts(_ r: Containerd_Services_Snapshots_V1_MountsRequest) async throws -> Containerd_Services_Snapshots_V1_MountsResponse { try await unary("Mounts", r) }
    func commit(_ r: Containerd_Services_Snapshots_V1_CommitSnapshotRequest) async throws -> Google_Protobuf_Empty { try await unary("Commit", r) }
    func remove(_ r: Containerd_Services_Snapshots_V1_RemoveSnapshotRequest) async throws -> Google_Protobuf_Empty { try await unary("Remove", r) }
    func stat(_ r: Containerd_Services_Snapshots_V1_StatSnapshotRequest) async throws -> Containerd_Services_Snapshots_V1_StatSnapshotResponse { try await unary("Stat", r) }
    func update(_ r: Containerd_Services_Snapshots_V1_UpdateSnapshotRequest) async throws -> Containerd_Services_Snapshots_V1_UpdateSnapshotResponse { try await unary("Update", r) }
    func usage(_ r: Containerd_Services_Snapshots_V1_UsageRequest) async throws -> Containerd_Services_Snapshots_V1_UsageResponse { try await unary("Usage", r) }
    func cleanup(_ r: Containerd_Services_Snapshots_V1_CleanupRequest) async throws -> Google_Protobuf_Empty { try await unary("Cleanup", r) }

    /// List's responses: all of them, or the first `limit` before walking away.
    func list(_ r: Containerd_Services_Snapshots_V1_ListSnapshotsRequest, limit: Int? = nil) async throws -> [Containerd_Services_Snapshots_V1_ListSnapshotsResponse] {
        try await rpc.call("List", r, limit: limit)
    }
}

enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case memory, file
    var testDescription: String { rawValue }
    static var rootTestsEnabled: Bool { ProcessInfo.processInfo.environment["KBS_ROOT_TESTS"] == "1" }
    static var enabled: [Backend] { rootTestsEnabled ? [.memory, .file] : [.memory] }
}

/// A pool and `SnapshotterServer` on a unix socket in this process, a gRPC client on it, and
/// the containerd namespace of the pool as the engine sees it.
func withDaemon(
    _ backend: Backend = .memory, asyncRemove: Bool = false, _ body: (SnapshotsClient, SnapshotNamespace) async throws -> Void
) async throws {
    var logger = Logger(label: "kbs.adapter-test")
    logger.logLevel = .warning
    let id = UUID().uuidString.prefix(8)
    let state = "/tmp/kbs-adapter-\(id)"
    let socket = "/tmp/kbs-adapter-\(id).sock"
    var configuration = EngineConfiguration()
    configuration.backend = backend == .file ? "file" : "memory"
    configuration.file.poolSize = 4 << 30
    configuration.defaultDeviceSize = 1 << 30
    let backends = BackendRegistry.standard.adding(MemoryBackend.Factory(instance: MemoryBackend()))
    let engine = try await StorageEngine.create(at: state, configuration: configuration, backends: backends, logger: logger)
    let outcome: Result<Void, any Error>
    do {
        try SnapshotterServer.claim(socketPath: socket)
        let server = SnapshotterServer(service: SnapshotsService(engine: engine, logger: logger, asyncRemove: asyncRemove),
                                       socketPath: socket, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            if asyncRemove {
                // What the daemon's maintenance service does.
                group.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: .milliseconds(50))
                        _ = try await engine.maintain()
                    }
                }
            }
            var attributes: [FileAttributeKey: Any] = [:]
            for _ in 0..<400 {
                if let a = try? FileManager.default.attributesOfItem(atPath: socket), (a[.posixPermissions] as? Int) == 0o600 {
                    attributes = a
                    break
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(attributes[.type] as? FileAttributeType == .typeSocket, "the daemon did not listen on \(socket)")
            let rpc = try await RPCTestClient.connect(socket)
            do {
                try await body(SnapshotsClient(rpc: rpc), engine.snapshots(in: SnapshotsService.defaultNamespace))
            } catch {
                await rpc.close()
                throw error
            }
            await rpc.close()
            group.cancelAll()
        }
        outcome = .success(())
    } catch {
        outcome = .failure(error)
    }
    do {
        #expect(try await engine.checkConsistency() == [])
        try await engine.close(destroy: true)
    } catch {
        Issue.record("cannot destroy \(state): \(error)")
    }
    try outcome.get()
}

/// Asserts that `body` fails with the gRPC `code`.
func expectCode(_ code: RPCStatus.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("expected \(code), but the call succeeded", sourceLocation: sourceLocation)
    } catch let error as RPCStatus {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected RPCStatus \(code), got \(error)", sourceLocation: sourceLocation)
    }
}

extension SnapshotsClient {
    func prepare(_ key: String, parent: String = "", labels: [String: String] = [:]) async throws -> [Containerd_Types_Mount] {
        try await prepare(.with {
            $0.key = key
            $0.parent = parent
            $0.labels = labels
        }).mounts
    }

    func commit(_ name: String, key: String) async throws {
        _ = try await commit(.with {
            $0.name = name
            $0.key = key
        })
    }

    func names(_ filters: [String] = []) async throws -> [String] {
        try await list(.with { $0.filters = filters }).flatMap { $0.info.map(\.name) }.sorted()
    }

    /// Every snapshot with its kind, parent and labels, to compare before and after a refused call.
    func everything() async throws -> [String] {
        try await list(.init()).flatMap { message in
            message.info.map { "\($0.name)|\($0.parent)|\($0.kind)|\($0.labels.sorted { $0.key < $1.key })|\($0.updatedAt)" }
        }.sorted()
    }
}

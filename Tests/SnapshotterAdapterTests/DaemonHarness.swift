import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import Testing
@testable import SnapshotterAdapter
@testable import StorageCore

typealias SnapshotsClient = Containerd_Services_Snapshots_V1_Snapshots.Client<HTTP2ClientTransport.Posix>

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
            try await withGRPCClient(
                transport: .http2NIOPosix(target: .unixDomainSocket(path: socket), transportSecurity: .plaintext)
            ) { grpc in
                try await body(SnapshotsClient(wrapping: grpc), engine.snapshots(in: SnapshotsService.defaultNamespace))
            }
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
func expectCode(_ code: RPCError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("expected \(code), but the call succeeded", sourceLocation: sourceLocation)
    } catch let error as RPCError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected RPCError \(code), got \(error)", sourceLocation: sourceLocation)
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
        try await list(.with { $0.filters = filters }) { response in
            var names: [String] = []
            for try await message in response.messages { names += message.info.map(\.name) }
            return names.sorted()
        }
    }

    /// Every snapshot with its kind, parent and labels, to compare before and after a refused call.
    func everything() async throws -> [String] {
        try await list(.init()) { response in
            var rows: [String] = []
            for try await message in response.messages {
                rows += message.info.map { "\($0.name)|\($0.parent)|\($0.kind)|\($0.labels.sorted { $0.key < $1.key })|\($0.updatedAt)" }
            }
            return rows.sorted()
        }
    }
}

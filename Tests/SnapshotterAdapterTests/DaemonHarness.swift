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

/// A pool and `SnapshotterServer` on a unix socket in this process, and a gRPC client on it.
func withDaemon(
    _ backend: Backend = .memory, asyncRemove: Bool = false, _ body: (SnapshotsClient, StorageEngine) async throws -> Void
) async throws {
    var logger = Logger(label: "kbs.adapter-test")
    logger.logLevel = .warning
    let id = UUID().uuidString.prefix(8)
    let state = "/tmp/kbs-adapter-\(id)"
    let socket = "/tmp/kbs-adapter-\(id).sock"
    let options = PoolOptions(backend: backend == .file ? .file(poolSize: 4 << 30) : .memory(MemoryBackend()),
                              defaultDeviceSize: 1 << 30)
    let engine = try StorageEngine.createPool(at: state, options: options, logger: logger)
    defer {
        do {
            #expect(try engine.checkConsistency() == [])
            try engine.close(destroy: true)
        } catch {
            Issue.record("cannot destroy \(state): \(error)")
        }
    }
    let server = try SnapshotterServer(engine: engine, socketPath: socket, logger: logger, asyncRemove: asyncRemove)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.run() }
        if asyncRemove {
            let reaper = DeviceReaper(engine: engine, logger: logger, interval: .milliseconds(50))
            group.addTask { try await reaper.run() }
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
            try await body(SnapshotsClient(wrapping: grpc), engine)
        }
        group.cancelAll()
    }
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

import Foundation
import KBSDeviceMapper
import KBSSystem
import Logging
import Synchronization
import Testing
@testable import StorageCore

/// Which backends the shared suites run against.
enum BackendChoice: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case memory
    case file
    case dmThin = "dm-thin"

    var testDescription: String { rawValue }

    /// Root tests (loop devices, mkfs, mounts) run when KBS_ROOT_TESTS=1; once asked for, they must be able to run.
    static var rootTestsEnabled: Bool { ProcessInfo.processInfo.environment["KBS_ROOT_TESTS"] == "1" }

    /// dm-thin tests run where the kernel has device-mapper (the VM: scripts/vm/run.sh) when KBS_DM_TESTS=1.
    static var dmTestsEnabled: Bool { ProcessInfo.processInfo.environment["KBS_DM_TESTS"] == "1" }

    static var enabled: [BackendChoice] {
        if dmTestsEnabled { return [.dmThin] }
        return rootTestsEnabled ? [.memory, .file] : [.memory]
    }

    /// The backend with real block devices under test: dm-thin in the VM, the file backend as root.
    static var block: BackendChoice? { dmTestsEnabled ? .dmThin : rootTestsEnabled ? .file : nil }

    /// Detaches the device at `path` the way a reboot would, behind the engine's back.
    func detachBehindBack(_ path: String) throws {
        switch self {
        case .file: try LoopDevice.detach(path)
        case .dmThin: try DeviceMapper.remove((path as NSString).lastPathComponent)
        case .memory: break
        }
    }

    /// Whether the device at `path` is still attached (not yet removed by the kernel).
    /// Whether a device is attached at `path`; with `state`, one of that pool's (a loop device
    /// let go of is soon taken by other tests running beside this one).
    func isAttached(_ path: String, of state: String? = nil) throws -> Bool {
        switch self {
        case .file:
            guard let file = try LoopDevice.backingFile(of: path) else { return false }
            return state.map { file.hasPrefix($0 + "/") } ?? true
        case .dmThin: return try DeviceMapper.info((path as NSString).lastPathComponent) != nil
        case .memory: return false
        }
    }

    /// Whether the device at `path` goes away at its last close.
    func isDetaching(_ path: String) throws -> Bool {
        switch self {
        case .file: return try LoopDevice.isDetaching(path)
        case .dmThin: return try DeviceMapper.info((path as NSString).lastPathComponent)?.deferredRemove == true
        case .memory: return false
        }
    }

    var devicePrefix: String { self == .dmThin ? "/dev/mapper/" : "/dev/loop" }
}

/// A pool in a fresh temporary state directory; `withTestPool` destroys it when the test ends.
final class TestPool: Sendable {
    let choice: BackendChoice
    let state: String
    let memory = MemoryBackend()
    private let current: Mutex<StorageEngine?> = Mutex(nil)

    /// The namespace the tests work in.
    static let namespace = "test"

    static let logger: Logger = {
        var logger = Logger(label: "kbs.test")
        logger.logLevel = .warning
        return logger
    }()

    var backends: BackendRegistry { BackendRegistry.standard.adding(MemoryBackend.Factory(instance: memory)) }
    var engine: StorageEngine { current.withLock { $0! } }
    var snapshots: SnapshotNamespace { engine.snapshots(in: Self.namespace) }
    var pool: Pool { engine.pool }

    init(_ choice: BackendChoice, filesystem: FilesystemType, deviceSize: UInt64, thinDataSize: UInt64,
         thinSource: ThinPoolSettings.Source?, thinPoolName: String?, waitLimit: Duration,
         configure: (inout EngineConfiguration) -> Void = { _ in }) async throws {
        if choice != .memory {
            #expect(getuid() == 0, "block backend tests need root (loop devices, device-mapper, mkfs, mount)")
        }
        self.choice = choice
        let id = UUID().uuidString
        state = FileManager.default.temporaryDirectory.appendingPathComponent("kbs-test-\(id)").path
        var configuration = EngineConfiguration()
        configuration.filesystem = filesystem
        configuration.defaultDeviceSize = deviceSize
        configuration.waitLimit = waitLimit
        switch choice {
        case .memory: configuration.backend = "memory"
        case .file:
            configuration.backend = "file"
            configuration.file.poolSize = 4 << 30
        case .dmThin:
            configuration.backend = "dm-thin"
            configuration.thin.poolName = thinPoolName ?? "kbs-test-\(id.prefix(8))"
            configuration.thin.dataSize = thinDataSize
            switch thinSource {
            case .existing: configuration.thin.existing = true
            case .devices(let data, let metadata):
                configuration.thin.dataDevice = data
                configuration.thin.metadataDevice = metadata
            case .files, nil: break
            }
        }
        configure(&configuration)
        let engine = try await StorageEngine.create(at: state, configuration: configuration, backends: backends, logger: Self.logger)
        current.withLock { $0 = engine }
    }

    /// Closes the engine and opens the pool again from disk, as after a daemon restart.
    func reopen() async throws {
        try await engine.close()
        try await reopenAfterClose()
    }

    /// Opens the pool again after `engine.close()` handed it to other processes.
    func reopenAfterClose() async throws {
        let engine = try await StorageEngine.open(stateDirectory: state, backends: backends, logger: Self.logger)
        current.withLock { $0 = engine }
    }

    /// Everything stored: snapshot and device records, for asserting that a refused call changed nothing.
    func storedState() throws -> [String] {
        try pool.store.read { (txn) throws(StorageError) -> [String] in
            var lines: [String] = []
            try txn.forEachSnapshot { lines.append("snapshot \($0)"); return true }
            try txn.forEachDevice { lines.append("device \($0)"); return true }
            return lines
        }
    }
}

/// Runs `body` with a new pool of `choice`, then checks the pool is consistent and destroys it,
/// whatever `body` did.
func withTestPool(
    _ choice: BackendChoice, filesystem: FilesystemType = .ext4, deviceSize: UInt64 = 1 << 30, thinDataSize: UInt64 = 4 << 30,
    thinSource: ThinPoolSettings.Source? = nil, thinPoolName: String? = nil, waitLimit: Duration = .seconds(30),
    configure: (inout EngineConfiguration) -> Void = { _ in },
    sourceLocation: SourceLocation = #_sourceLocation, _ body: (TestPool) async throws -> Void
) async throws {
    let pool = try await TestPool(choice, filesystem: filesystem, deviceSize: deviceSize, thinDataSize: thinDataSize,
                                  thinSource: thinSource, thinPoolName: thinPoolName, waitLimit: waitLimit, configure: configure)
    let outcome: Result<Void, any Error>
    do {
        try await body(pool)
        outcome = .success(())
    } catch {
        outcome = .failure(error)
    }
    do {
        #expect(try await pool.engine.checkConsistency() == [], "pool \(pool.state) is inconsistent at the end of the test", sourceLocation: sourceLocation)
        try await pool.engine.close(destroy: true)
    } catch {
        Issue.record("could not destroy test pool \(pool.state): \(error)", sourceLocation: sourceLocation)
    }
    try outcome.get()
}

/// Asserts that `body` throws a StorageError with `code` and leaves the pool's store unchanged.
func expectRefused(
    _ code: StorageError.Code, in pool: TestPool, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async throws {
    let before = try pool.storedState()
    do {
        try await body()
        Issue.record("expected a \(code) error, but the call succeeded", sourceLocation: sourceLocation)
    } catch let error as StorageError {
        #expect(error.code == code, "got \(error)", sourceLocation: sourceLocation)
        #expect(!error.message.isEmpty, sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected StorageError, got \(error)", sourceLocation: sourceLocation)
    }
    #expect(try pool.storedState() == before, "a refused call changed the store", sourceLocation: sourceLocation)
}

/// Runs a command and returns its standard output; throws (with its complaint) when it fails.
@discardableResult
func run(_ tool: String, _ arguments: String...) throws -> String {
    try Subprocess.run(tool, arguments, captureOutput: true)
}

/// snapctl sits next to the test bundle in the build directory.
var snapctlPath: String {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("snapctl").path
}

/// Mounts `device` on `directory` (made if missing) with `options` for the duration of `body`.
func withMounted(_ device: String, at directory: String, options: String? = nil, _ body: () throws -> Void) throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    try run("mount", options.map { ["-o", $0] } ?? [], device, directory)
    defer { _ = try? run("umount", directory) }
    try body()
}

/// Mounts a snapshot's mount as containerd would: its type, source and options.
func withMounted(_ mount: Mount, at directory: String, _ body: () throws -> Void) throws {
    try withMounted(mount.source, at: directory, options: mount.options.isEmpty ? nil : mount.options.joined(separator: ","), body)
}

func run(_ tool: String, _ options: [String], _ arguments: String...) throws {
    _ = try Subprocess.run(tool, options + arguments, captureOutput: true)
}

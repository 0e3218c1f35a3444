import Logging
import ServiceLifecycle
import StorageCore

/// With async remove: deletes the devices of removed snapshots in the background, soon after each
/// Remove and at least every `interval`, and once more on shutdown.
public struct DeviceReaper: Service {
    private let engine: StorageEngine
    private let logger: Logger
    private let interval: Duration
    private let offload = EngineOffload()

    public init(engine: StorageEngine, logger: Logger, interval: Duration = .milliseconds(250)) {
        self.engine = engine
        self.logger = logger
        self.interval = interval
    }

    public func run() async throws {
        while !Task.isCancelledOrShuttingDown {
            try? await Task.sleep(for: interval)
            await reap()
        }
        await reap()
    }

    private func reap() async {
        do {
            let count = try await offload.run { () throws(StorageError) in try engine.reapRemovedDevices() }
            if count > 0 { logger.debug("deleted devices of removed snapshots", metadata: ["count": "\(count)"]) }
        } catch {
            logger.warning("could not delete the devices of removed snapshots; retrying", metadata: ["error": "\(error)"])
        }
    }
}

extension Task where Success == Never, Failure == Never {
    static var isCancelledOrShuttingDown: Bool { isCancelled || isShuttingDownGracefully }
}

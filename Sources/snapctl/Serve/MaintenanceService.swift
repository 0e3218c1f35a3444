import Logging
import ServiceLifecycle
import StorageCore

/// The daemon's background upkeep: deletes the devices of removed snapshots (all of them with
/// async remove, and otherwise those still open by a user when their snapshot went) and finishes
/// what crashed processes sharing the pool left, every `interval` and once more on shutdown.
struct MaintenanceService: Service {
    let engine: StorageEngine
    let logger: Logger
    var interval: Duration = .milliseconds(250)

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: interval)
            await pass()
        }
        await pass()
    }

    private func pass() async {
        do {
            let count = try await engine.maintain()
            if count > 0 { logger.debug("maintenance deleted or recovered devices", metadata: ["count": "\(count)"]) }
        } catch {
            logger.warning("maintenance failed; retrying", metadata: ["error": "\(error)"])
        }
    }
}

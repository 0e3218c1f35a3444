import CDeviceMapper
import CDeviceMapperLog
import Glibc
import Logging
import Synchronization

/// What libdevmapper needs before the first call of this process, done on that call rather
/// than at load: its log routed to a Logger, and node handling chosen. When udev runs, it makes
/// /dev/mapper nodes and libdevmapper waits for it (cookies); when it does not (the VM, minimal
/// hosts), udev synchronisation is switched off and libdevmapper makes the nodes itself, which
/// is what `DM_DISABLE_UDEV=1` does for `dmsetup`, without touching the environment.
enum DeviceMapperSetup {
    private struct State {
        var logger = Logger(label: "kata-block.device-mapper", factory: { _ in SwiftLogNoOpLogHandler() })
        var udev: Bool?
    }

    private static let state = Mutex(State())

    static func configure(logger: Logger) {
        state.withLock { $0.logger = logger }
    }

    static var logger: Logger { state.withLock { $0.logger } }

    /// Runs once per process on the device-mapper queue; returns whether udev manages nodes.
    static func prepare() -> Bool {
        if let known = state.withLock({ $0.udev }) { return known }
        let running = access("/run/udev/control", F_OK) == 0 && getenv("DM_DISABLE_UDEV") == nil
        dm_udev_set_sync_support(running ? 1 : 0)
        kbs_dm_log_install(forwardLog)
        state.withLock { $0.udev = running }
        return running
    }
}

/// libdevmapper's log, delivered by the C bridge: debug lines in the configured logger. Errors
/// stay with the failing call's error.
private func forwardLog(level: Int32, errnoOrClass: Int32, message: UnsafePointer<CChar>?) {
    guard let message, level <= 4 else { return }
    DeviceMapperSetup.logger.debug("libdevmapper", metadata: ["level": "\(level)", "message": "\(String(cString: message))"])
}

import CDeviceMapper
import CDeviceMapperLog
import Glibc
import Logging
import Synchronization

/// Device-mapper through libdevmapper's ioctl API (never `dmsetup`): the one funnel through which
/// every dm call goes, turning a failed `dm_task_run` into a typed error with the kernel's errno
/// and libdevmapper's own message.
enum DeviceMapper {
    /// One line of a device's table.
    struct Target: Equatable, Sendable {
        var start: UInt64
        var sectors: UInt64
        var type: String
        var parameters: String
    }

    /// What DM_DEVICE_INFO says of a device.
    struct Info: Sendable {
        var openCount: Int32
        var suspended: Bool
        var readOnly: Bool
        var deferredRemove: Bool
    }

    static let directory = "/dev/mapper"

    /// True when udev runs and creates /dev/mapper nodes; without it libdevmapper creates them
    /// itself (the VM, minimal hosts), as `DM_DISABLE_UDEV=1` makes `dmsetup` do.
    static let udevManagesNodes: Bool = {
        let running = access("/run/udev/control", F_OK) == 0 && getenv("DM_DISABLE_UDEV") == nil
        if !running { setenv("DM_DISABLE_UDEV", "1", 1) }
        dm_udev_set_sync_support(running ? 1 : 0)
        kbs_dm_log_install(forwardLog)
        return running
    }()

    /// True when the running kernel has device-mapper and thin provisioning can be loaded.
    static func isAvailable() -> Bool {
        (try? run(DM_DEVICE_VERSION, "version") { _ in true }) != nil
    }

    static func path(of name: String) -> String { "\(directory)/\(name)" }

    /// Creates `name` with `table` and resumes it (its /dev/mapper node exists on return).
    /// Done as create, load, resume so that each step's failure carries its own errno; a device
    /// left half made is removed again.
    static func create(_ name: String, table: [Target], readOnly: Bool) throws(StorageError) {
        try run(DM_DEVICE_CREATE, "create \(name)") { dm_task_set_name($0, name) != 0 }
        do throws(StorageError) {
            try load(name, table: table, readOnly: readOnly)
            try resume(name)
        } catch {
            try? remove(name)
            throw error
        }
    }

    /// Loads a new table into `name`'s inactive slot; `resume` makes it live.
    static func load(_ name: String, table: [Target], readOnly: Bool = false) throws(StorageError) {
        try run(DM_DEVICE_RELOAD, "load table into \(name)") { task in
            guard dm_task_set_name(task, name) != 0 else { return false }
            if readOnly, dm_task_set_ro(task) == 0 { return false }
            for target in table where dm_task_add_target(task, target.start, target.sectors, target.type, target.parameters) == 0 {
                return false
            }
            return true
        }
    }

    /// Suspends `name`: in-flight I/O completes and a filesystem on it is frozen (lockfs).
    static func suspend(_ name: String) throws(StorageError) {
        try run(DM_DEVICE_SUSPEND, "suspend \(name)") { dm_task_set_name($0, name) != 0 }
    }

    static func resume(_ name: String) throws(StorageError) {
        try run(DM_DEVICE_RESUME, "resume \(name)", changesNodes: true) { dm_task_set_name($0, name) != 0 }
    }

    /// Removes `name`. With `deferred`, a device still open is removed by the kernel at its last close.
    static func remove(_ name: String, deferred: Bool = false) throws(StorageError) {
        try run(DM_DEVICE_REMOVE, "remove \(name)", changesNodes: true) { task in
            guard dm_task_set_name(task, name) != 0 else { return false }
            return !deferred || dm_task_deferred_remove(task) != 0
        }
    }

    /// Sends a target message (thin-pool: create_thin, create_snap, delete, ...) and returns the reply.
    @discardableResult
    static func message(_ name: String, _ text: String) throws(StorageError) -> String {
        try run(DM_DEVICE_TARGET_MSG, "message \(name) \"\(text)\"") { task in
            dm_task_set_name(task, name) != 0 && dm_task_set_sector(task, 0) != 0 && dm_task_set_message(task, text) != 0
        } read: { task in
            dm_task_get_message_response(task).map { String(cString: $0) } ?? ""
        }
    }

    /// The live status lines of `name` (the target's own report, e.g. thin-pool usage).
    static func status(_ name: String) throws(StorageError) -> [Target] {
        try run(DM_DEVICE_STATUS, "status \(name)") { dm_task_set_name($0, name) != 0 } read: { targets(of: $0) }
    }

    /// The live table of `name`.
    static func table(_ name: String) throws(StorageError) -> [Target] {
        try run(DM_DEVICE_TABLE, "table \(name)") { dm_task_set_name($0, name) != 0 } read: { targets(of: $0) }
    }

    /// Open count and flags of `name`, or nil when there is no such device.
    static func info(_ name: String) throws(StorageError) -> Info? {
        try run(DM_DEVICE_INFO, "info \(name)") { dm_task_set_name($0, name) != 0 } read: { task -> Info? in
            var info = dm_info()
            guard dm_task_get_info(task, &info) != 0, info.exists != 0 else { return nil }
            return Info(openCount: info.open_count, suspended: info.suspended != 0, readOnly: info.read_only != 0,
                        deferredRemove: info.deferred_remove != 0)
        }
    }

    /// Names of every device-mapper device.
    static func names() throws(StorageError) -> [String] {
        try run(DM_DEVICE_LIST, "list devices") { _ in true } read: { task in
            var result: [String] = []
            var entry = UnsafePointer(dm_task_get_names(task))
            guard let first = entry, kbs_dm_names_empty(first) == 0 else { return result }
            while let current = entry {
                result.append(String(cString: kbs_dm_names_name(current)))
                entry = kbs_dm_names_next(current)
            }
            return result
        }
    }

    private static func targets(of task: OpaquePointer) -> [Target] {
        var result: [Target] = []
        var next: UnsafeMutableRawPointer? = nil
        repeat {
            var start: UInt64 = 0, length: UInt64 = 0
            var type: UnsafeMutablePointer<CChar>? = nil, parameters: UnsafeMutablePointer<CChar>? = nil
            next = dm_get_next_target(task, next, &start, &length, &type, &parameters)
            if let type {
                result.append(Target(start: start, sectors: length, type: String(cString: type),
                                     parameters: parameters.map { String(cString: $0) } ?? ""))
            }
        } while next != nil
        return result
    }

    /// libdevmapper keeps process-wide state (pending node operations, the last error, udev
    /// cookies) and is not thread-safe: every call goes through this lock.
    private static let serial = Mutex(())

    /// The funnel: creates a task of `type`, lets `setUp` fill it, runs it, waits for node
    /// changes, and reads the result; failures carry the kernel's errno and libdevmapper's message.
    @discardableResult
    private static func run<Result>(
        _ type: Int, _ operation: @autoclosure () -> String, changesNodes: Bool = false,
        setUp: (OpaquePointer) -> Bool, read: (OpaquePointer) -> Result = { _ in () }
    ) throws(StorageError) -> Result {
        let name = operation()
        return try serial.withLock { (_) throws(StorageError) -> Result in
            try runLocked(type, name, changesNodes: changesNodes, setUp: setUp, read: read)
        }
    }

    private static func runLocked<Result>(
        _ type: Int, _ operation: @autoclosure () -> String, changesNodes: Bool,
        setUp: (OpaquePointer) -> Bool, read: (OpaquePointer) -> Result
    ) throws(StorageError) -> Result {
        let udev = udevManagesNodes
        kbs_dm_clear_error()
        guard let task = dm_task_create(Int32(type)) else {
            throw StorageError(.unavailable, "device-mapper is not available in this kernel (\(operation())); load it with `modprobe dm-thin-pool`, or use the file backend")
        }
        defer { dm_task_destroy(task) }
        guard setUp(task) else {
            throw StorageError(.internal, "cannot prepare device-mapper call \(operation()): \(lastMessage())")
        }
        var cookie: UInt32 = 0
        if changesNodes && udev { _ = dm_task_set_cookie(task, &cookie, 0) }
        let succeeded = dm_task_run(task) != 0
        let errorNumber = dm_task_get_errno(task)
        if changesNodes {
            if udev { _ = dm_udev_wait(cookie) } else { dm_task_update_nodes() }
        }
        guard succeeded else {
            // The ioctl's errno: from libdevmapper's error log, or the task (create/load run sub-tasks
            // whose errno the outer task does not carry).
            let logged = kbs_dm_last_errno()
            let code = logged > 0 ? logged : errorNumber > 0 ? errorNumber : 0
            let failure = SystemCallError(operation: "\(operation()): \(lastMessage())", errno: code != 0 ? code : EIO)
            throw failure.storageError("device-mapper \(operation()) failed")
        }
        return read(task)
    }

    private static func lastMessage() -> String {
        let text = String(cString: kbs_dm_last_error())
        return text.isEmpty ? "no message from libdevmapper" : text
    }

    /// Where libdevmapper's own messages go: debug lines into the engine's log.
    static let logger = Logger(label: "kata-block.device-mapper")
}

/// libdevmapper's log, delivered by the C bridge; errors stay with the failing call's error.
private func forwardLog(level: Int32, errnoOrClass: Int32, message: UnsafePointer<CChar>?) {
    guard let message, level <= 4 else { return }
    DeviceMapper.logger.debug("libdevmapper", metadata: ["level": "\(level)", "message": "\(String(cString: message))"])
}

import CDeviceMapper
import CDeviceMapperLog
import Dispatch
import Glibc
import KBSSystem
import Logging
import Synchronization

/// Device-mapper through libdevmapper's ioctl API (never `dmsetup`). libdevmapper keeps
/// process-wide state (pending node operations, its last error, udev cookies) and is not
/// thread-safe, so every call runs on one serial queue; each failed `dm_task_run` becomes a
/// `DeviceMapperError` with the kernel's errno and libdevmapper's message.
public enum DeviceMapper {
    /// One line of a device's table.
    public struct Target: Equatable, Sendable {
        public var start: UInt64
        public var sectors: UInt64
        public var type: String
        public var parameters: String

        public init(start: UInt64, sectors: UInt64, type: String, parameters: String) {
            self.start = start
            self.sectors = sectors
            self.type = type
            self.parameters = parameters
        }
    }

    /// What DM_DEVICE_INFO says of a device.
    public struct Info: Sendable {
        public var openCount: Int32
        public var suspended: Bool
        public var readOnly: Bool
        public var deferredRemove: Bool
    }

    public static let directory = "/dev/mapper"

    public static func path(of name: String) -> String { "\(directory)/\(name)" }

    /// Sends libdevmapper's messages to `logger` (debug level) from now on.
    public static func setLogger(_ logger: Logger) {
        DeviceMapperSetup.configure(logger: logger)
    }

    /// True when the running kernel has device-mapper.
    public static func isAvailable() -> Bool {
        (try? run(DM_DEVICE_VERSION, "version") { _ in true }) != nil
    }

    /// Creates `name` with `table` and resumes it (its /dev/mapper node exists on return). Done
    /// as create, load, resume so that each step's failure carries its own errno; a device left
    /// half made is removed again.
    public static func create(_ name: String, table: [Target], readOnly: Bool) throws(DeviceMapperError) {
        try run(DM_DEVICE_CREATE, "create \(name)") { dm_task_set_name($0, name) != 0 }
        do throws(DeviceMapperError) {
            try load(name, table: table, readOnly: readOnly)
            try resume(name)
        } catch {
            _ = try? remove(name)
            throw error
        }
    }

    /// Loads a new table into `name`'s inactive slot; `resume` makes it live.
    public static func load(_ name: String, table: [Target], readOnly: Bool = false) throws(DeviceMapperError) {
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
    public static func suspend(_ name: String) throws(DeviceMapperError) {
        try run(DM_DEVICE_SUSPEND, "suspend \(name)") { dm_task_set_name($0, name) != 0 }
    }

    public static func resume(_ name: String) throws(DeviceMapperError) {
        try run(DM_DEVICE_RESUME, "resume \(name)", changesNodes: true) { dm_task_set_name($0, name) != 0 }
    }

    /// Removes `name`. With `deferred`, a device still open is removed by the kernel at its last close.
    public static func remove(_ name: String, deferred: Bool = false) throws(DeviceMapperError) {
        try run(DM_DEVICE_REMOVE, "remove \(name)", changesNodes: true) { task in
            guard dm_task_set_name(task, name) != 0 else { return false }
            return !deferred || dm_task_deferred_remove(task) != 0
        }
    }

    /// Sends a target message (thin-pool: create_thin, create_snap, delete, ...) and returns the reply.
    @discardableResult
    public static func message(_ name: String, _ text: String) throws(DeviceMapperError) -> String {
        try run(DM_DEVICE_TARGET_MSG, "message \(name) \"\(text)\"") { task in
            dm_task_set_name(task, name) != 0 && dm_task_set_sector(task, 0) != 0 && dm_task_set_message(task, text) != 0
        } read: { task in
            dm_task_get_message_response(task).map { String(cString: $0) } ?? ""
        }
    }

    /// The live status lines of `name` (the target's own report, e.g. thin-pool usage).
    public static func status(_ name: String) throws(DeviceMapperError) -> [Target] {
        try run(DM_DEVICE_STATUS, "status \(name)") { dm_task_set_name($0, name) != 0 } read: { targets(of: $0) }
    }

    /// The live table of `name`.
    public static func table(_ name: String) throws(DeviceMapperError) -> [Target] {
        try run(DM_DEVICE_TABLE, "table \(name)") { dm_task_set_name($0, name) != 0 } read: { targets(of: $0) }
    }

    /// Open count and flags of `name`, or nil when there is no such device.
    public static func info(_ name: String) throws(DeviceMapperError) -> Info? {
        try run(DM_DEVICE_INFO, "info \(name)") { dm_task_set_name($0, name) != 0 } read: { task -> Info? in
            var info = dm_info()
            guard dm_task_get_info(task, &info) != 0, info.exists != 0 else { return nil }
            return Info(openCount: info.open_count, suspended: info.suspended != 0, readOnly: info.read_only != 0,
                        deferredRemove: info.deferred_remove != 0)
        }
    }

    /// Names of every device-mapper device.
    public static func names() throws(DeviceMapperError) -> [String] {
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

    /// The queue every libdevmapper call runs on.
    private static let queue = DispatchQueue(label: "kata-block.device-mapper")

    /// The funnel: creates a task of `type`, lets `setUp` fill it, runs it, lets node changes
    /// settle, and reads the result, all on the device-mapper queue.
    @discardableResult
    private static func run<Result: Sendable>(
        _ type: Int, _ operation: @autoclosure () -> String, changesNodes: Bool = false,
        setUp: (OpaquePointer) -> Bool, read: (OpaquePointer) -> Result = { _ in () }
    ) throws(DeviceMapperError) -> Result {
        let name = operation()
        let outcome = queue.sync { () -> Swift.Result<Result, DeviceMapperError> in
            Swift.Result { () throws(DeviceMapperError) -> Result in
                try runOnQueue(type, name, changesNodes: changesNodes, setUp: setUp, read: read)
            }
        }
        return try outcome.get()
    }

    private static func runOnQueue<Result>(
        _ type: Int, _ operation: String, changesNodes: Bool,
        setUp: (OpaquePointer) -> Bool, read: (OpaquePointer) -> Result
    ) throws(DeviceMapperError) -> Result {
        let udev = DeviceMapperSetup.prepare()
        kbs_dm_clear_error()
        guard let task = dm_task_create(Int32(type)) else {
            throw DeviceMapperError(operation: operation, reason: .unavailable, message: "")
        }
        defer { dm_task_destroy(task) }
        guard setUp(task) else {
            throw DeviceMapperError(operation: operation, reason: .setUp, message: lastMessage())
        }
        var cookie: UInt32 = 0
        if changesNodes && udev { _ = dm_task_set_cookie(task, &cookie, 0) }
        let succeeded = dm_task_run(task) != 0
        let errorNumber = dm_task_get_errno(task)
        if changesNodes {
            // With udev, wait for it to make or remove the node; without, libdevmapper does it now.
            if udev { _ = dm_udev_wait(cookie) } else { dm_task_update_nodes() }
        }
        guard succeeded else {
            // The ioctl's errno: from libdevmapper's error log, or the task (create/load run sub-tasks
            // whose errno the outer task does not carry).
            let logged = kbs_dm_last_errno()
            let code = logged > 0 ? logged : errorNumber > 0 ? errorNumber : EIO
            throw DeviceMapperError(operation: operation, reason: .kernel(Errno(rawValue: code)), message: lastMessage())
        }
        return read(task)
    }

    private static func lastMessage() -> String {
        let text = String(cString: kbs_dm_last_error())
        return text.isEmpty ? "no message from libdevmapper" : text
    }
}

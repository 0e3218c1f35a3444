import Glibc

/// A process told apart from every other process of every boot: its id, its start time (clock
/// ticks after boot, from /proc/PID/stat) and the boot's random id. A pid reused by a later
/// process, or the same pid after a reboot, is a different identity.
public struct ProcessIdentity: Sendable, Hashable, CustomStringConvertible {
    public var bootID: String
    public var pid: Int32
    public var startTime: UInt64

    public init(bootID: String, pid: Int32, startTime: UInt64) {
        self.bootID = bootID
        self.pid = pid
        self.startTime = startTime
    }

    public var description: String { "pid \(pid) (started at tick \(startTime), boot \(bootID.prefix(8)))" }

    /// This process.
    public static func current() throws(SystemCallError) -> ProcessIdentity {
        let pid = getpid()
        guard let start = try startTime(of: pid) else {
            throw SystemCallError(operation: "read /proc/\(pid)/stat", errno: .noSuchProcess)
        }
        return ProcessIdentity(bootID: try currentBootID(), pid: pid, startTime: start)
    }

    /// The running kernel's boot id.
    public static func currentBootID() throws(SystemCallError) -> String {
        try Files.read("/proc/sys/kernel/random/boot_id").trimmingCharacters(inSet: [" ", "\n"])
    }

    /// Whether this identity's process is still running (same boot, same pid, same start time).
    public func isAlive() throws(SystemCallError) -> Bool {
        guard bootID == (try Self.currentBootID()) else { return false }
        return try Self.startTime(of: pid) == startTime
    }

    /// The start time of process `pid`, or nil when there is none.
    static func startTime(of pid: Int32) throws(SystemCallError) -> UInt64? {
        guard let stat = try Files.readIfPresent("/proc/\(pid)/stat") else { return nil }
        return parseStartTime(stat: stat)
    }

    /// Field 22 of /proc/PID/stat. The command name (field 2) is in parentheses and may hold
    /// spaces and parentheses itself, so fields are counted after the last ")".
    public static func parseStartTime(stat: String) -> UInt64? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After ")": field 3 (state) is fields[0], so field 22 is fields[19].
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }
}

extension String {
    func trimmingCharacters(inSet set: Set<Character>) -> String {
        var s = Substring(self)
        while let first = s.first, set.contains(first) { s.removeFirst() }
        while let last = s.last, set.contains(last) { s.removeLast() }
        return String(s)
    }
}

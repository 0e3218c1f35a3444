import Glibc

/// A file whose modification time says when something last happened, for every process that
/// shares the directory (a deletion that left work for later, say). Touching it is one syscall;
/// clearing it never loses a touch that lands meanwhile.
public struct EventMarker: Sendable {
    public let path: String

    public init(_ path: String) { self.path = path }

    /// Records that it happened now.
    public func touch() throws(SystemCallError) { try Files.touch(path) }

    /// When it last happened (nanoseconds since the epoch), or nil when nothing is pending.
    public func lastTime() throws(SystemCallError) -> Int64? { try Files.status(path)?.modified }

    /// Clears the marker as seen at `seen`; a touch after that keeps it (or makes it again).
    public func clear(seen: Int64) throws(SystemCallError) {
        // Taken away atomically, then looked at: a touch between the look that gave `seen` and
        // the rename is found on the taken file, and marked again.
        let taken = "\(path).\(getpid())"
        guard try Files.rename(path, to: taken) else { return }
        if try Files.status(taken)?.modified != seen { try touch() }
        _ = try Files.remove(taken)
    }

    /// Sleeps until the marker's last event is at least `age` old (not at all when it is).
    public func waitUntil(age nanoseconds: Int64) throws(SystemCallError) {
        guard let last = try lastTime() else { return }
        let wait = last + nanoseconds - WallClock.nanosecondsSinceEpoch()
        if wait > 0 { usleep(UInt32(min(wait / 1000, 10_000_000))) }
    }
}

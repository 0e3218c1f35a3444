import Glibc

/// Wall-clock time, the stored form of every timestamp.
public enum WallClock {
    /// Nanoseconds since the Unix epoch.
    public static func nanosecondsSinceEpoch() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}

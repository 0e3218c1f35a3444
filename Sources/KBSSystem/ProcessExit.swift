import Glibc

/// Ending the process without cleanup.
public enum ProcessExit {
    /// Exits at once with `status`, running no atexit handlers and flushing nothing (as a crash would).
    public static func immediately(_ status: Int32) -> Never { _exit(status) }
}

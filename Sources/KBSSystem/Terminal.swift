import Glibc

/// The process's terminal, for output that only makes sense to a person watching (progress lines).
public enum Terminal {
    /// Whether standard error is a terminal.
    public static var standardErrorIsTerminal: Bool { isatty(2) == 1 }

    /// How far into the file open as `fd` its reader is (nil for a pipe or a socket).
    public static func position(of fd: Int32) -> Int64? {
        let offset = lseek(fd, 0, SEEK_CUR)
        return offset < 0 ? nil : Int64(offset)
    }

    /// Writes `text` to standard error as it is (no newline added).
    public static func writeToStandardError(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress! + offset, $0.count - offset) }
            if written <= 0 { return }
            offset += written
        }
    }
}

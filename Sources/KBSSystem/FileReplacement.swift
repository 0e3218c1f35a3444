import Glibc

extension Files {
    /// Sets `path`'s permission bits.
    public static func setMode(_ path: String, _ mode: mode_t) throws(SystemCallError) {
        try syscall("chmod(\(path))") { chmod(path, mode) }
    }

    /// Replaces `path` with `bytes` in one step: readers see the old file or the new one, never a
    /// part, and the new one is on disk when this returns. The file gets `mode` (owner only by
    /// default); the directory must exist.
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o600) throws(SystemCallError) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) }.flatMap { $0.isEmpty ? "/" : $0 } ?? "."
        let temporary = "\(path).new-\(getpid())"
        _ = try? remove(temporary)
        do throws(SystemCallError) {
            try FileDescriptor.withOpened(temporary, FileDescriptor.Access.writeOnly.creatingNew, mode: mode) { (fd) throws(SystemCallError) in
                try fd.write(bytes, at: 0)
                try fd.sync()
            }
            try rename(temporary, to: path)
        } catch {
            _ = try? remove(temporary)
            throw error
        }
        try FileDescriptor.withOpened(directory, .directory) { (fd) throws(SystemCallError) in try fd.sync() }
    }
}

import Foundation
import Glibc
import KBSArchive

/// Layer tars for tests: members built in a line each, written with the engine's own writer
/// (which writes any name it is given, hostile ones included).
enum LayerTar {
    typealias Member = (ArchiveEntry, [UInt8])

    static func file(_ path: String, _ text: String, mode: UInt32 = 0o644, uid: UInt32 = 0, gid: UInt32 = 0) -> Member {
        let bytes = Array(text.utf8)
        return (ArchiveEntry(path: path, kind: .regular, permissions: mode, uid: uid, gid: gid, size: Int64(bytes.count),
                             modified: 1_600_000_000_000_000_000), bytes)
    }

    static func directory(_ path: String, mode: UInt32 = 0o755) -> Member {
        (ArchiveEntry(path: path, kind: .directory, permissions: mode, modified: 1_500_000_000_000_000_000), [])
    }

    static func link(_ path: String, to target: String, hard: Bool = false) -> Member {
        (ArchiveEntry(path: path, kind: hard ? .hardLink : .symbolicLink, permissions: 0o777, linkTarget: target), [])
    }

    /// Writes `members` as a tar at `path` (cut to `truncateTo` bytes if given) and returns it
    /// open for reading from the start; the caller closes it.
    static func write(_ members: [Member], to path: String, truncateTo: Int? = nil) throws -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        do {
            let writer = try ArchiveWriter(fd: fd)
            for (entry, data) in members {
                try writer.write(entry)
                if !data.isEmpty { try data.withUnsafeBytes { try writer.writeData($0) } }
            }
            try writer.finish()
        } catch {
            close(fd)
            throw error
        }
        if let truncateTo { ftruncate(fd, off_t(truncateTo)) }
        lseek(fd, 0, SEEK_SET)
        return fd
    }
}

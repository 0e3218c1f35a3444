import KBSArchive
import KBSSystem

/// Writes a layer's changes as an OCI layer tar (Diff): added and modified entries as they are
/// in the layer, deletions as `.wh.NAME` whiteouts, files with several names in the layer as one
/// file and hard links to it. `LayerApplier` applying it onto the parent gives the layer back.
enum LayerExporter {
    private static let failure = "cannot write the layer tar"

    /// Returns the bytes of file data written.
    static func export(layer: String, changes: [LayerChange], to fd: Int32) throws(StorageError) -> Int64 {
        let writer = try archive(failure, reading: false) { () throws(ArchiveError) in try ArchiveWriter(fd: fd) }
        var bytes: Int64 = 0
        try visit(layer, changes) { (path, item) throws(StorageError) in
            guard let (entry, parent, name) = item else {
                try archive(failure, reading: false) { () throws(ArchiveError) in
                    try writer.write(ArchiveEntry(path: path, kind: .regular, permissions: 0o644))
                }
                return
            }
            try archive(failure, reading: false) { () throws(ArchiveError) in try writer.write(entry) }
            if entry.kind == .regular && entry.size > 0 { bytes += try copyData(of: name, in: parent, entry, to: writer) }
        }
        try archive(failure, reading: false) { () throws(ArchiveError) in try writer.finish() }
        return bytes
    }

    /// The bytes of file data `export` would write for `changes`.
    static func dataBytes(layer: String, changes: [LayerChange]) throws(StorageError) -> Int64 {
        var bytes: Int64 = 0
        try visit(layer, changes) { (_, item) throws(StorageError) in
            if let (entry, _, _) = item, entry.kind == .regular { bytes += entry.size }
        }
        return bytes
    }

    /// Calls `body` for each change in path order: a deletion with its whiteout's path and nil,
    /// anything else with its path, its tar header, the directory holding it and its name there.
    private static func visit(
        _ layer: String, _ changes: [LayerChange],
        _ body: (String, (ArchiveEntry, Directory, String)?) throws(StorageError) -> Void
    ) throws(StorageError) {
        let root = try system("cannot open \(layer)") { () throws(SystemCallError) in try Directory.open(layer) }
        var firstName: [UInt64: String] = [:]
        // Siblings come together in path order: their directory is opened once for all of them.
        var open: (path: String, directory: Directory)?
        for change in changes.sorted() {
            let relative = String(change.path.dropFirst())
            let parts = relative.split(separator: "/")
            let parentPath = parts.dropLast().joined(separator: "/")
            let name = String(parts.last ?? "")
            if change.kind == .deleted {
                try body(parentPath.isEmpty ? ".wh.\(name)" : "\(parentPath)/.wh.\(name)", nil)
                continue
            }
            let parent: Directory
            if let open, open.path == parentPath {
                parent = open.directory
            } else {
                parent = try system("cannot export \(change.path)") { () throws(SystemCallError) in try root.directory(beneath: parentPath) }
                open = (parentPath, parent)
            }
            guard let entry = try describe(name, in: parent, as: relative, &firstName) else { continue }
            try body(relative, (entry, parent, name))
        }
    }

    /// The tar header of the entry `name` (at `relative` in the layer); nil for one gone since
    /// the comparison, or a socket. The second and later names of a file are hard links.
    private static func describe(_ name: String, in parent: Directory, as relative: String,
                                 _ firstName: inout [UInt64: String]) throws(StorageError) -> ArchiveEntry? {
        try system("cannot export /\(relative)") { () throws(SystemCallError) -> ArchiveEntry? in
            guard let meta = try parent.metadata(of: name) else { return nil }
            var entry = ArchiveEntry(path: relative, kind: .regular, permissions: meta.permissions, uid: meta.uid, gid: meta.gid,
                                     modified: meta.modified, accessed: meta.modified,
                                     deviceMajor: meta.deviceMajor, deviceMinor: meta.deviceMinor,
                                     attributes: try LayerComparison.attributes(of: name, in: parent))
            switch meta.kind {
            case .directory: entry.kind = .directory
            case .symbolicLink:
                entry.kind = .symbolicLink
                entry.linkTarget = try parent.linkTarget(of: name)
            case .regular:
                if meta.links > 1, let first = firstName[meta.inode] {
                    entry.kind = .hardLink
                    entry.linkTarget = first
                } else {
                    if meta.links > 1 { firstName[meta.inode] = relative }
                    entry.size = meta.size
                }
            case .characterDevice: entry.kind = .characterDevice
            case .blockDevice: entry.kind = .blockDevice
            case .fifo: entry.kind = .fifo
            case .socket: return nil
            }
            return entry
        }
    }

    /// Copies the file's `entry.size` bytes into the stream; returns how many.
    private static func copyData(of name: String, in parent: Directory, _ entry: ArchiveEntry, to writer: ArchiveWriter) throws(StorageError) -> Int64 {
        let message = "cannot export /\(entry.path)"
        let size = entry.size
        let copied = try system(message) { () throws(SystemCallError) -> Result<Int64, StorageError> in
            let file = try parent.openFile(name)
            let copied = Result { () throws(StorageError) -> Int64 in
                var offset: Int64 = 0
                while offset < size {
                    let chunk = try system(message) { () throws(SystemCallError) in try file.read(count: Int(min(1 << 20, size - offset)), at: offset) }
                    guard !chunk.isEmpty else { throw StorageError(.failedPrecondition, "\(message): it shrank while being exported") }
                    try archive(failure, reading: false) { () throws(ArchiveError) in try writer.writeData(chunk) }
                    offset += Int64(chunk.count)
                }
                return offset
            }
            file.close()
            return copied
        }
        return try copied.get()
    }
}

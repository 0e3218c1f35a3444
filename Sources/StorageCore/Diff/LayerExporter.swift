import KBSArchive
import KBSSystem

/// Writes a layer's changes as an OCI layer tar (Diff): added and modified entries as they are
/// in the layer, deletions as `.wh.NAME` whiteouts, files with several names in the layer as one
/// file and hard links to it. `LayerApplier` applying it onto the parent gives the layer back.
enum LayerExporter {
    /// Returns the bytes of file data written.
    static func export(layer: String, changes: [LayerChange], to fd: Int32) throws(StorageError) -> Int64 {
        let writer = try archive { () throws(ArchiveError) in try ArchiveWriter(fd: fd) }
        let root = try system("cannot open \(layer)") { () throws(SystemCallError) in try Directory.open(layer) }
        var firstName: [UInt64: String] = [:]
        var bytes: Int64 = 0
        for change in changes.sorted() {
            let relative = String(change.path.dropFirst())
            let parentPath = relative.split(separator: "/").dropLast().joined(separator: "/")
            let name = String(relative.split(separator: "/").last ?? "")
            if change.kind == .deleted {
                let whiteout = parentPath.isEmpty ? ".wh.\(name)" : "\(parentPath)/.wh.\(name)"
                try archive { () throws(ArchiveError) in try writer.write(ArchiveEntry(path: whiteout, kind: .regular, permissions: 0o644)) }
                continue
            }
            try system("cannot export \(change.path)") { () throws(SystemCallError) in
                let parent = try root.directory(beneath: parentPath)
                guard let meta = try parent.metadata(of: name) else { return }  // gone since the comparison
                var entry = ArchiveEntry(path: relative, kind: .regular, permissions: meta.permissions, uid: meta.uid, gid: meta.gid,
                                         modified: meta.modified, accessed: meta.modified,
                                         deviceMajor: meta.deviceMajor, deviceMinor: meta.deviceMinor)
                entry.attributes = try LayerComparison.attributes(of: name, in: parent).map { ArchiveEntry.Attribute(name: $0.0, value: $0.1) }
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
                case .other:
                    guard !meta.isSocket else { return }
                    entry.kind = meta.isFIFO ? .fifo : meta.isBlockDevice ? .blockDevice : .characterDevice
                }
                try write(entry, from: parent, name, writer, &bytes)
            }
        }
        try archive { () throws(ArchiveError) in try writer.finish() }
        return bytes
    }

    private static func write(_ entry: ArchiveEntry, from parent: Directory, _ name: String, _ writer: ArchiveWriter,
                              _ bytes: inout Int64) throws(SystemCallError) {
        try failing { () throws(ArchiveError) in try writer.write(entry) }
        guard entry.kind == .regular, entry.size > 0 else { return }
        let file = try parent.openFile(name)
        let copied = Result { () throws(SystemCallError) -> Int64 in
            var offset: Int64 = 0
            while offset < entry.size {
                let chunk = try file.read(count: Int(min(1 << 20, entry.size - offset)), at: offset)
                guard !chunk.isEmpty else {
                    throw SystemCallError(operation: "read \(entry.path): it shrank while being exported", errno: .io)
                }
                try failing { () throws(ArchiveError) in try writer.writeData(chunk) }
                offset += Int64(chunk.count)
            }
            return offset
        }
        file.close()
        bytes += try copied.get()
    }

    /// An archive failure inside a member's system calls, as one of them.
    private static func failing(_ body: () throws(ArchiveError) -> Void) throws(SystemCallError) {
        do throws(ArchiveError) {
            try body()
        } catch {
            throw SystemCallError(operation: "write the tar (\(error.message))", errno: .io)
        }
    }

    private static func archive<T>(_ body: () throws(ArchiveError) -> T) throws(StorageError) -> T {
        do throws(ArchiveError) {
            return try body()
        } catch {
            throw StorageError(.internal, "cannot write the layer tar: \(error.message)")
        }
    }
}

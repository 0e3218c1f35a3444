import KBSArchive
import KBSSystem

/// How a layer tar is written into a tree.
public struct ApplyOptions: Sendable, Equatable {
    /// Owners the caller may not set (rootless) are left as they fall instead of failing.
    public var ignoreChownErrors: Bool
    /// When set, every member gets these permission bits, and its own owner and mode are kept in
    /// the `user.containers.override_stat` attribute ("uid:gid:0mode"), as containers/storage does.
    public var forceMask: UInt32?

    public init(ignoreChownErrors: Bool = false, forceMask: UInt32? = nil) {
        self.ignoreChownErrors = ignoreChownErrors
        self.forceMask = forceMask
    }
}

/// What applying a layer wrote.
public struct ApplyResult: Sendable, Equatable {
    /// Members applied, whiteouts included.
    public var members: Int
    /// Bytes of regular file data written (holes not counted).
    public var dataBytes: Int64
}

/// Writes an uncompressed layer tar into the directory tree at a path, with OCI whiteouts:
/// `.wh.NAME` deletes NAME from the layers below, `.wh..wh..opq` empties its directory of what
/// they hold. Every name resolves inside the tree (`Directory`: as if it were the root), so no
/// `..`, absolute name, symbolic link or hard link in the stream writes outside it; names with
/// `..` or a leading `/` are refused outright, as are truncated or malformed streams. On a
/// refusal what was applied before it stays (the caller discards the layer or applies again).
struct LayerApplier {
    private let root: Directory
    private let options: ApplyOptions
    /// Paths this stream made: an opaque directory keeps them.
    private var made: Set<String> = []
    /// Directory times, set last (entries made inside a directory change its mtime).
    private var directoryTimes: [(path: String, accessed: Int64, modified: Int64)] = []
    private var result = ApplyResult(members: 0, dataBytes: 0)

    static let overrideAttribute = "user.containers.override_stat"

    static func apply(tar fd: Int32, to directory: String, options: ApplyOptions) throws(StorageError) -> ApplyResult {
        var applier = LayerApplier(
            root: try system("cannot open the layer's root \(directory)") { () throws(SystemCallError) in try Directory.open(directory) },
            options: options)
        let reader = try archive { () throws(ArchiveError) in try ArchiveReader(fd: fd) }
        while let entry = try archive({ () throws(ArchiveError) in try reader.next() }) {
            try applier.apply(entry, reader)
        }
        try applier.setDirectoryTimes()
        return applier.result
    }

    private static func archive<T>(_ body: () throws(ArchiveError) -> T) throws(StorageError) -> T {
        do throws(ArchiveError) {
            return try body()
        } catch {
            throw StorageError(.invalidArgument, "the layer tar is not valid: \(error.message)", remedy: .checkInput)
        }
    }

    /// The member's name as path components inside the tree; `..` and absolute names are refused.
    static func components(_ name: String, _ what: String) throws(StorageError) -> [String] {
        guard !name.hasPrefix("/") else {
            throw StorageError(.invalidArgument, "the layer tar has an absolute \(what) \(StorageError.quoted(name))", remedy: .checkInput)
        }
        let parts = name.split(separator: "/", omittingEmptySubsequences: true).map(String.init).filter { $0 != "." }
        guard !parts.contains("..") else {
            throw StorageError(.invalidArgument, "the layer tar has a \(what) with \"..\": \(StorageError.quoted(name))", remedy: .checkInput)
        }
        guard !parts.contains(where: { $0.utf8.contains(0) }) else {
            throw StorageError(.invalidArgument, "the layer tar has a \(what) with a NUL byte", remedy: .checkInput)
        }
        return parts
    }

    private mutating func apply(_ entry: ArchiveEntry, _ reader: ArchiveReader) throws(StorageError) {
        result.members += 1
        let parts = try Self.components(entry.path, "member name")
        let path = parts.joined(separator: "/")
        let quoted = StorageError.quoted(entry.path)
        guard let leaf = parts.last else {
            // "./": the root itself.
            guard entry.kind == .directory else {
                throw StorageError(.invalidArgument, "the layer tar's root member \(quoted) is not a directory", remedy: .checkInput)
            }
            try member(quoted) { () throws(SystemCallError) in
                try setAttributes(entry, of: ".", in: root)
                directoryTimes.append((path: "", accessed: entry.accessed, modified: entry.modified))
            }
            return
        }
        let parentPath = parts.dropLast().joined(separator: "/")
        if leaf.hasPrefix(".wh.") {
            try whiteout(String(leaf.dropFirst(4)), in: parentPath, quoted)
            return
        }
        let parent = try member(quoted) { () throws(SystemCallError) in try makeParents(Array(parts.dropLast())) }
        let linked = try entry.kind == .hardLink ? hardLinkTarget(entry.linkTarget ?? "", quoted) : nil
        try member(quoted) { () throws(SystemCallError) in
            let existing = try parent.kind(of: leaf)
            if let existing, !(existing == .directory && entry.kind == .directory) { try parent.removeEntry(leaf) }
            switch entry.kind {
            case .directory:
                if existing != .directory { try parent.makeDirectory(leaf, mode: 0o700) }
                try setAttributes(entry, of: leaf, in: parent)
                directoryTimes.append((path: path, accessed: entry.accessed, modified: entry.modified))
            case .regular:
                let file = try parent.createFile(leaf, mode: 0o600)
                let written = Result { () throws(SystemCallError) -> Int64 in try writeData(reader, to: file, size: entry.size, quoted) }
                file.close()
                result.dataBytes += try written.get()
                try setAttributes(entry, of: leaf, in: parent)
            case .symbolicLink:
                try parent.makeSymbolicLink(leaf, to: entry.linkTarget ?? "")
                try setAttributes(entry, of: leaf, in: parent)
            case .hardLink:
                try parent.makeHardLink(leaf, to: linked!)
            case .characterDevice, .blockDevice, .fifo:
                let kind: Directory.NodeKind = entry.kind == .fifo ? .fifo : entry.kind == .blockDevice ? .blockDevice : .characterDevice
                try parent.makeNode(leaf, kind, permissions: 0o600, major: entry.deviceMajor, minor: entry.deviceMinor)
                try setAttributes(entry, of: leaf, in: parent)
            case .socket:
                return  // a socket in a layer is meaningless once its server is gone: not made
            }
        }
        made.insert(path)
    }

    /// Runs one member's system calls, naming the member in a failure.
    private func member<T>(_ quoted: String, _ body: () throws(SystemCallError) -> T) throws(StorageError) -> T {
        do throws(SystemCallError) {
            return try body()
        } catch where error.errno == .nameTooLong {
            throw StorageError(.invalidArgument, "the layer tar member \(quoted) has a name too long for the filesystem", remedy: .checkInput, cause: error)
        } catch where error.errno == .noSpace || error.errno == .quotaExceeded {
            throw StorageError(.noSpace, "the layer is full writing \(quoted)", remedy: .freeSpace, cause: error)
        } catch {
            throw StorageError(error, "cannot apply the layer tar member \(quoted)")
        }
    }

    /// A hard link names another member of the stream (or a file of the layers below), as a path
    /// inside the tree, which must be there.
    private func hardLinkTarget(_ name: String, _ quoted: String) throws(StorageError) -> Directory {
        let parts = try Self.components(name, "hard link target")
        do throws(SystemCallError) {
            guard !parts.isEmpty else { throw SystemCallError(operation: "an empty name", errno: .invalid) }
            return try root.entry(beneath: parts.joined(separator: "/"))
        } catch {
            throw StorageError(.invalidArgument, "the layer tar member \(quoted) is a hard link to \(StorageError.quoted(name)), which is not in the layer",
                               remedy: .checkInput, cause: error)
        }
    }

    /// `.wh..wh..opq` empties its directory of everything this stream did not make; `.wh.NAME`
    /// removes NAME. A whiteout of something absent changes nothing.
    private mutating func whiteout(_ name: String, in parentPath: String, _ quoted: String) throws(StorageError) {
        let opaque = name == ".wh..opq"
        guard opaque || (!name.isEmpty && name != "." && name != "..") else {
            throw StorageError(.invalidArgument, "the layer tar has a whiteout of \(StorageError.quoted(name)): \(quoted)", remedy: .checkInput)
        }
        try member(quoted) { () throws(SystemCallError) in
            let parent: Directory
            do throws(SystemCallError) {
                parent = try root.directory(beneath: parentPath)
            } catch where error.errno == .noSuchFile || error.errno == .notDirectory {
                return
            }
            if opaque {
                let prefix = parentPath.isEmpty ? "" : parentPath + "/"
                for child in try parent.names() where !made.contains(prefix + child) { try parent.removeEntry(child) }
            } else {
                try parent.removeEntry(name)
            }
        }
    }

    /// The directory `parts` names, made (mode 0755, root's) where missing. Each step resolves
    /// inside the tree: a symbolic link on the way is followed as if the tree were the root.
    private func makeParents(_ parts: [String]) throws(SystemCallError) -> Directory {
        do throws(SystemCallError) {
            return try root.directory(beneath: parts.joined(separator: "/"))
        } catch where error.errno == .noSuchFile {
            var current = root
            for (i, part) in parts.enumerated() {
                let prefix = parts[...i].joined(separator: "/")
                do throws(SystemCallError) {
                    current = try root.directory(beneath: prefix)
                } catch where error.errno == .noSuchFile {
                    try current.makeDirectory(part, mode: 0o755)
                    current = try root.directory(beneath: prefix)
                }
            }
            return current
        }
    }

    /// Copies the member's data blocks to their offsets (gaps stay holes) and sets the length.
    private func writeData(_ reader: ArchiveReader, to file: borrowing FileDescriptor, size: Int64, _ quoted: String) throws(SystemCallError) -> Int64 {
        var written: Int64 = 0
        let outcome = try reader.readData { (offset, bytes) throws(SystemCallError) in
            try file.write(bytes, at: offset)
            written += Int64(bytes.count)
        }
        if case .failure(let error) = outcome {
            throw SystemCallError(operation: "read the data of \(quoted) from the tar (\(error.message))", errno: .io)
        }
        try file.truncate(to: UInt64(max(size, 0)))
        return written
    }

    /// Owner, mode, extended attributes and times of a member just made (a directory's times are
    /// set at the end). Symbolic links have no mode of their own.
    private func setAttributes(_ entry: ArchiveEntry, of name: String, in parent: Directory) throws(SystemCallError) {
        do throws(SystemCallError) {
            try parent.setOwner(name, uid: entry.uid, gid: entry.gid)
        } catch where options.ignoreChownErrors && (error.errno == .notPermitted || error.errno == .invalid) {
            // rootless, or an id outside the user namespace: left as it falls
        }
        var attributes = entry.attributes
        if entry.kind != .symbolicLink {
            if let mask = options.forceMask {
                try parent.setMode(name, mask)
                attributes.append(.init(name: Self.overrideAttribute,
                                        value: Array("\(entry.uid):\(entry.gid):0\(String(entry.permissions, radix: 8))".utf8)))
            } else {
                try parent.setMode(name, entry.permissions)
            }
        }
        for attribute in attributes {
            do throws(SystemCallError) {
                try parent.setAttribute(name, key: attribute.name, value: attribute.value)
            } catch where error.errno == .notSupported && entry.kind == .symbolicLink {
                // user.* attributes cannot be set on symbolic links
            }
        }
        if entry.kind != .directory { try parent.setTimes(name, accessed: entry.accessed, modified: entry.modified) }
    }

    /// Sets the directories' times, deepest first, once nothing more is made inside them.
    private func setDirectoryTimes() throws(StorageError) {
        for item in directoryTimes.reversed() {
            try member(StorageError.quoted(item.path)) { () throws(SystemCallError) in
                try root.directory(beneath: item.path).setTimes(".", accessed: item.accessed, modified: item.modified)
            }
        }
    }
}

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
        let reader = try archive(invalid, reading: true) { () throws(ArchiveError) in try ArchiveReader(fd: fd) }
        while let entry = try archive(invalid, reading: true, { () throws(ArchiveError) in try reader.next() }) {
            try applier.apply(entry, reader)
        }
        try applier.setDirectoryTimes()
        return applier.result
    }

    private static let invalid = "the layer tar is not valid"

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
            try system(Self.failure(quoted)) { () throws(SystemCallError) in
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
        let parent = try system(Self.failure(quoted)) { () throws(SystemCallError) in try makeParents(Array(parts.dropLast())) }
        let linked = try entry.kind == .hardLink ? hardLinkTarget(entry.linkTarget ?? "", quoted) : nil
        try system(Self.failure(quoted)) { () throws(SystemCallError) in
            // What is there goes, but a directory stays a directory (its contents are the layers below's).
            let existing = try parent.kind(of: leaf)
            if let existing, !(existing == .directory && entry.kind == .directory) { try parent.removeEntry(leaf) }
            switch entry.kind {
            case .directory:
                if existing != .directory { try parent.makeDirectory(leaf, mode: 0o700) }
                directoryTimes.append((path: path, accessed: entry.accessed, modified: entry.modified))
            case .regular: break  // below: its data comes from the stream
            case .symbolicLink: try parent.makeSymbolicLink(leaf, to: entry.linkTarget ?? "")
            case .hardLink: try parent.makeHardLink(leaf, to: linked!)
            case .characterDevice: try parent.makeNode(leaf, .characterDevice, permissions: 0o600, major: entry.deviceMajor, minor: entry.deviceMinor)
            case .blockDevice: try parent.makeNode(leaf, .blockDevice, permissions: 0o600, major: entry.deviceMajor, minor: entry.deviceMinor)
            case .fifo: try parent.makeNode(leaf, .fifo, permissions: 0o600, major: entry.deviceMajor, minor: entry.deviceMinor)
            case .socket: return  // a socket in a layer is meaningless once its server is gone: not made
            }
        }
        if entry.kind == .regular { result.dataBytes += try writeFile(entry, leaf, in: parent, reader, quoted) }
        if entry.kind != .hardLink && entry.kind != .socket {
            try system(Self.failure(quoted)) { () throws(SystemCallError) in try setAttributes(entry, of: leaf, in: parent) }
        }
        made.insert(path)
    }

    private static func failure(_ quoted: String) -> String { "cannot apply the layer tar member \(quoted)" }

    /// A hard link names another member of the stream (or a file of the layers below), as a path
    /// inside the tree, which must be there.
    private func hardLinkTarget(_ name: String, _ quoted: String) throws(StorageError) -> Directory {
        let parts = try Self.components(name, "hard link target")
        let absent = "the layer tar member \(quoted) is a hard link to \(StorageError.quoted(name)), which is not in the layer"
        guard !parts.isEmpty else { throw StorageError(.invalidArgument, absent, remedy: .checkInput) }
        do throws(SystemCallError) {
            return try root.entry(beneath: parts.joined(separator: "/"))
        } catch {
            throw StorageError(.invalidArgument, absent, remedy: .checkInput, cause: error)
        }
    }

    /// `.wh..wh..opq` empties its directory of everything this stream did not make; `.wh.NAME`
    /// removes NAME. A whiteout of something absent changes nothing.
    private mutating func whiteout(_ name: String, in parentPath: String, _ quoted: String) throws(StorageError) {
        let opaque = name == ".wh..opq"
        guard opaque || (!name.isEmpty && name != "." && name != "..") else {
            throw StorageError(.invalidArgument, "the layer tar has a whiteout of \(StorageError.quoted(name)): \(quoted)", remedy: .checkInput)
        }
        try system(Self.failure(quoted)) { () throws(SystemCallError) in
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

    /// Makes the regular file `leaf` from the member's data blocks, each at its offset (the gaps
    /// stay holes), with the member's length; returns the bytes written.
    private func writeFile(_ entry: ArchiveEntry, _ leaf: String, in parent: Directory, _ reader: ArchiveReader, _ quoted: String) throws(StorageError) -> Int64 {
        var written: Int64 = 0
        let copied = try system(Self.failure(quoted)) { () throws(SystemCallError) -> Result<Void, StorageError> in
            let file = try parent.createFile(leaf, mode: 0o600)
            let copied = Result { () throws(StorageError) in
                try reader.readData({ (offset, bytes) throws(StorageError) in
                    try system(Self.failure(quoted)) { () throws(SystemCallError) in try file.write(bytes, at: offset) }
                    written += Int64(bytes.count)
                }, failed: { StorageError($0, "\(Self.invalid): the data of \(quoted)", reading: true) })
                try system(Self.failure(quoted)) { () throws(SystemCallError) in try file.truncate(to: UInt64(max(entry.size, 0))) }
            }
            file.close()
            return copied
        }
        try copied.get()
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
            try system(Self.failure(StorageError.quoted(item.path))) { () throws(SystemCallError) in
                try root.directory(beneath: item.path).setTimes(".", accessed: item.accessed, modified: item.modified)
            }
        }
    }
}

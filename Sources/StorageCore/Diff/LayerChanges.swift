import KBSArchive
import KBSSystem

/// One difference between a layer's tree and its parent's, as containers/storage reports it.
public struct LayerChange: Sendable, Equatable, Comparable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case added = "A", modified = "C", deleted = "D"
    }

    /// From the layer's root, with a leading "/".
    public var path: String
    public var kind: Kind

    public init(path: String, kind: Kind) {
        self.path = path
        self.kind = kind
    }

    public var description: String { "\(kind.rawValue) \(path)" }

    public static func < (a: LayerChange, b: LayerChange) -> Bool { a.path.utf8.lexicographicallyPrecedes(b.path.utf8) }
}

/// Compares two directory trees (a layer and its parent, mounted), entry by entry, without
/// reading file contents: an entry changed when its type, mode, owner, device number, mtime and
/// size (not for directories), link target or extended attributes did, the rules
/// containers/storage uses; a directory with a change inside is modified too. A directory added
/// brings its whole content as added; one deleted is one deletion.
enum LayerComparison {
    static func changes(layer: String, parent: String?) throws(StorageError) -> [LayerChange] {
        try system("cannot compare \(layer) with \(parent ?? "an empty tree")") { () throws(SystemCallError) -> [LayerChange] in
            var changes: [LayerChange] = []
            try compare(try Directory.open(layer), try parent.map { (p) throws(SystemCallError) in try Directory.open(p) }, "", &changes)
            return changes.sorted()
        }
    }

    private static func compare(_ layer: Directory, _ parent: Directory?, _ prefix: String, _ changes: inout [LayerChange]) throws(SystemCallError) {
        let names = try layer.names()
        let below = try parent?.names() ?? []
        let present = Set(names)
        for name in below where !present.contains(name) { changes.append(LayerChange(path: "\(prefix)/\(name)", kind: .deleted)) }
        let wasBelow = Set(below)
        for name in names {
            guard let entry = try layer.metadata(of: name) else { continue }
            let path = "\(prefix)/\(name)"
            let old = wasBelow.contains(name) ? try parent?.metadata(of: name) : nil
            var reported = true
            if let old {
                reported = try differs(name, entry, layer, old, parent!)
                if reported { changes.append(LayerChange(path: path, kind: .modified)) }
            } else {
                changes.append(LayerChange(path: path, kind: .added))
            }
            guard entry.kind == .directory else { continue }
            let oldDirectory = old?.kind == .directory ? try parent!.subdirectory(name) : nil
            let before = changes.count
            try compare(try layer.subdirectory(name), oldDirectory, path, &changes)
            // A directory with changes inside is listed as modified too, so that a tar of the
            // changes carries its mode and owner (what containers/storage does).
            if !reported && changes.count > before { changes.append(LayerChange(path: path, kind: .modified)) }
        }
    }

    private static func differs(_ name: String, _ new: Directory.Metadata, _ layer: Directory,
                                _ old: Directory.Metadata, _ parent: Directory) throws(SystemCallError) -> Bool {
        // A directory's mtime and size say nothing reliable about it (they follow its entries).
        if new.kind != old.kind || new.permissions != old.permissions || new.uid != old.uid || new.gid != old.gid
            || new.deviceMajor != old.deviceMajor || new.deviceMinor != old.deviceMinor
            || (new.kind != .directory && (new.modified != old.modified || new.size != old.size)) {
            return true
        }
        if new.kind == .symbolicLink, try layer.linkTarget(of: name) != parent.linkTarget(of: name) { return true }
        return try attributes(of: name, in: layer) != attributes(of: name, in: parent)
    }

    /// An entry's extended attributes, in name order.
    static func attributes(of name: String, in directory: Directory) throws(SystemCallError) -> [ArchiveEntry.Attribute] {
        var result: [ArchiveEntry.Attribute] = []
        for key in try directory.attributeNames(of: name).sorted() {
            if let value = try directory.attribute(name, key: key) { result.append(.init(name: key, value: value)) }
        }
        return result
    }
}

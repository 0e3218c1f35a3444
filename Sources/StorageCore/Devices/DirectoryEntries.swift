import Glibc

/// The names and types in a directory, without "." and "..".
///
/// `dirent` records are variable length: reading the name through a pointer (never copying the
/// whole struct) keeps the last record of a buffer from reading past its end.
func directoryEntries(_ path: String) -> [(name: String, isDirectory: Bool)]? {
    guard let dir = opendir(path) else { return nil }
    defer { closedir(dir) }
    let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
    let typeOffset = MemoryLayout<dirent>.offset(of: \dirent.d_type)!
    var result: [(String, Bool)] = []
    while let entry = readdir(dir) {
        let raw = UnsafeRawPointer(entry)
        let name = String(cString: raw.advanced(by: nameOffset).assumingMemoryBound(to: CChar.self))
        if name == "." || name == ".." { continue }
        result.append((name, raw.load(fromByteOffset: typeOffset, as: UInt8.self) == UInt8(DT_DIR)))
    }
    return result
}

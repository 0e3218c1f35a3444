import Foundation
import StorageCore

/// containerd's filter syntax for List: each string is a comma-separated list of selectors that
/// must all hold, and a snapshot matches when any string does.
///
///     kind==active,labels."containerd.io/gc.root"
///     name~=^sha256:,parent!=""
enum FilterSyntax {
    static func parse(_ filters: [String]) throws(StorageError) -> SnapshotFilter {
        var alternatives: [[SnapshotFilter.Condition]] = []
        for text in filters where !text.trimmingCharacters(in: .whitespaces).isEmpty {
            var scanner = Scanner(text)
            alternatives.append(try scanner.conditions())
        }
        return SnapshotFilter(anyOf: alternatives)
    }

    private struct Scanner {
        let text: String
        let characters: [Character]
        var index = 0

        init(_ text: String) {
            self.text = text
            characters = Array(text)
        }

        func error(_ what: String) -> StorageError {
            StorageError(.invalidArgument, "filter \"\(text)\": \(what) at position \(index + 1)")
        }

        var atEnd: Bool { index >= characters.count }

        mutating func skipSpaces() {
            while !atEnd, characters[index] == " " { index += 1 }
        }

        mutating func conditions() throws(StorageError) -> [SnapshotFilter.Condition] {
            var result: [SnapshotFilter.Condition] = []
            repeat {
                skipSpaces()
                result.append(try condition())
                skipSpaces()
                if atEnd { break }
                guard characters[index] == "," else { throw error("expected \",\" between selectors") }
                index += 1
            } while true
            return result
        }

        mutating func condition() throws(StorageError) -> SnapshotFilter.Condition {
            let path = try fieldPath()
            let field: SnapshotFilter.Field
            switch path.first {
            case "name" where path.count == 1: field = .name
            case "parent" where path.count == 1: field = .parent
            case "kind" where path.count == 1: field = .kind
            case "labels" where path.count >= 2: field = .label(path.dropFirst().joined(separator: "."))
            default: throw error("unknown field \"\(path.joined(separator: "."))\"; use name, parent, kind or labels.<key>")
            }
            skipSpaces()
            if atEnd || characters[index] == "," { return .init(field, .exists) }
            let op = try operatorToken()
            skipSpaces()
            let value = try valueToken()
            switch op {
            case "==": return .init(field, .equals(value))
            case "!=": return .init(field, .notEquals(value))
            default: return .init(field, .matches(try SnapshotFilter.Pattern(value)))
            }
        }

        mutating func fieldPath() throws(StorageError) -> [String] {
            var parts: [String] = []
            repeat {
                if !atEnd, characters[index] == "\"" {
                    parts.append(try quoted())
                } else {
                    let start = index
                    while !atEnd, characters[index].isLetter || characters[index].isNumber || characters[index] == "_" {
                        index += 1
                    }
                    guard index > start else { throw error("expected a field name") }
                    parts.append(String(characters[start..<index]))
                }
                guard !atEnd, characters[index] == "." else { break }
                index += 1
            } while true
            return parts
        }

        mutating func operatorToken() throws(StorageError) -> String {
            guard index + 1 < characters.count else { throw error("expected ==, != or ~=") }
            let op = String(characters[index...index + 1])
            guard ["==", "!=", "~="].contains(op) else { throw error("expected ==, != or ~=") }
            index += 2
            return op
        }

        mutating func valueToken() throws(StorageError) -> String {
            if !atEnd, characters[index] == "\"" { return try quoted() }
            let start = index
            while !atEnd, characters[index] != "," { index += 1 }
            let value = String(characters[start..<index]).trimmingCharacters(in: .whitespaces)
            guard !value.isEmpty else { throw error("expected a value") }
            return value
        }

        mutating func quoted() throws(StorageError) -> String {
            index += 1  // opening quote
            var value = ""
            while !atEnd {
                let c = characters[index]
                index += 1
                switch c {
                case "\"": return value
                case "\\":
                    guard !atEnd else { throw error("unfinished escape") }
                    let e = characters[index]
                    index += 1
                    switch e {
                    case "n": value.append("\n")
                    case "t": value.append("\t")
                    default: value.append(e)
                    }
                default: value.append(c)
                }
            }
            throw error("unterminated quoted string")
        }
    }
}

import Foundation

/// Which snapshots a walk visits: any one of several all-of condition lists (containerd's filter model).
public struct SnapshotFilter: Sendable, Equatable {
    public enum Field: Sendable, Equatable {
        case name
        case parent
        case kind
        case label(String)
    }

    public enum Test: Sendable, Equatable {
        /// The field is present (non-empty).
        case exists
        case equals(String)
        /// Differs; an absent field counts as "".
        case notEquals(String)
        /// The field is present and the regular expression matches part of it.
        case matches(Pattern)
    }

    /// A compiled regular expression.
    public struct Pattern: Sendable, Equatable {
        public let source: String
        let expression: NSRegularExpression

        public init(_ source: String) throws(StorageError) {
            do {
                expression = try NSRegularExpression(pattern: source)
            } catch {
                throw StorageError(.invalidArgument, "invalid regular expression \"\(source)\": \(error)")
            }
            self.source = source
        }

        func matches(_ value: String) -> Bool {
            expression.firstMatch(in: value, range: NSRange(value.startIndex..., in: value)) != nil
        }

        public static func == (a: Pattern, b: Pattern) -> Bool { a.source == b.source }
    }

    public struct Condition: Sendable, Equatable {
        public var field: Field
        public var test: Test

        public init(_ field: Field, _ test: Test) {
            self.field = field
            self.test = test
        }

        func matches(_ info: SnapshotInfo) -> Bool {
            var value: String?
            switch field {
            case .name: value = info.name
            case .parent: value = info.parent
            case .kind: value = info.kind.description
            case .label(let key): value = info.labels[key]
            }
            if value?.isEmpty == true { value = nil }
            switch test {
            case .exists: return value != nil
            case .equals(let expected): return value == expected
            case .notEquals(let other): return (value ?? "") != other
            case .matches(let pattern): return value.map(pattern.matches) ?? false
            }
        }
    }

    /// Empty: every snapshot matches.
    public var alternatives: [[Condition]]

    public init(anyOf alternatives: [[Condition]] = []) { self.alternatives = alternatives }

    public static let all = SnapshotFilter()

    public func matches(_ info: SnapshotInfo) -> Bool {
        alternatives.isEmpty || alternatives.contains { $0.allSatisfy { $0.matches(info) } }
    }
}

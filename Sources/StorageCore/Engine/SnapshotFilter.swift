/// Which snapshots a walk visits: any one of several all-of condition lists (containerd's filter model).
public struct SnapshotFilter: Sendable, Equatable {
    public enum Field: Sendable, Equatable {
        case name
        case parent
        case kind
        case label(String)
    }

    public enum Test: Sendable, Equatable {
        case exists
        case equals(String)
        case notEquals(String)
    }

    public struct Condition: Sendable, Equatable {
        public var field: Field
        public var test: Test

        public init(_ field: Field, _ test: Test) {
            self.field = field
            self.test = test
        }

        func matches(_ info: SnapshotInfo) -> Bool {
            let value: String?
            switch field {
            case .name: value = info.name
            case .parent: value = info.parent
            case .kind: value = info.kind.description
            case .label(let key): value = info.labels[key]
            }
            switch test {
            case .exists: return value != nil
            case .equals(let expected): return value == expected
            case .notEquals(let other): return value != other
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

/// Where a device is in its life. "Trying" states are written before the backend call and
/// replaced by the outcome after, so that after a crash the store says what might be half done.
public enum DeviceState: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Trying: the backend is creating (and possibly activating) the device.
    case creating = 1
    /// Exists in the backend, not attached to a block device.
    case inactive = 2
    /// Trying: the backend is attaching the device.
    case activating = 3
    /// Attached; `path` is its block device.
    case active = 4
    /// Trying: the backend is detaching the device.
    case deactivating = 5
    /// Trying: the backend is deleting the device; the record goes when it is gone.
    case removing = 6
    /// A backend call failed in a way that left the device in doubt; `fault` says which.
    case faulty = 7

    public var description: String {
        switch self {
        case .creating: "creating"
        case .inactive: "inactive"
        case .activating: "activating"
        case .active: "active"
        case .deactivating: "deactivating"
        case .removing: "removing"
        case .faulty: "faulty"
        }
    }

    /// True for the states written before a backend call and replaced after it.
    public var isTrying: Bool {
        switch self {
        case .creating, .activating, .deactivating, .removing: true
        case .inactive, .active, .faulty: false
        }
    }

    /// The moves the engine may make; anything else is a bug or damaged state.
    func canMove(to next: DeviceState) -> Bool {
        switch (self, next) {
        case (.creating, .active), (.creating, .inactive), (.creating, .faulty), (.creating, .removing): true
        case (.inactive, .activating), (.inactive, .removing): true
        case (.activating, .active), (.activating, .inactive), (.activating, .faulty): true
        case (.active, .deactivating), (.active, .removing), (.active, .active): true
        case (.deactivating, .inactive), (.deactivating, .active), (.deactivating, .faulty): true
        case (.removing, .faulty): true
        case (.faulty, .removing), (.faulty, .activating), (.faulty, .inactive), (.faulty, .active): true
        default: false
        }
    }
}

/// Where a device is in its life. "Trying" states are written, with the process that runs the
/// operation, before the kernel or file call and replaced by the outcome after, so that after a
/// crash the store says what might be half done and whether its owner is still at it.
public enum DeviceState: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Trying: the backend is creating (and possibly attaching) the device.
    case creating = 1
    /// Exists in the backend, not attached to a block device.
    case inactive = 2
    /// Trying: the backend is attaching the device.
    case activating = 3
    /// Attached; `path` is its block device (and its filesystem may be mounted on the host).
    case active = 4
    /// Trying: the backend is detaching the device.
    case deactivating = 5
    /// Trying: the backend is deleting the device; the record goes when it is gone. Without an
    /// owner: queued for the reaper (its snapshot is gone, the device is still open somewhere).
    case removing = 6
    /// A backend call failed and so did its rollback: the device is in doubt; `fault` says why.
    case faulty = 7
    /// Trying: the device is being attached (if it was not) and its filesystem mounted on the host.
    case mounting = 8
    /// Trying: the host mount is being taken down (and the device detached if it was attached for it).
    case unmounting = 9

    public var description: String {
        switch self {
        case .creating: "creating"
        case .inactive: "inactive"
        case .activating: "activating"
        case .active: "active"
        case .deactivating: "deactivating"
        case .removing: "removing"
        case .faulty: "faulty"
        case .mounting: "mounting"
        case .unmounting: "unmounting"
        }
    }

    /// True for the states written before a backend call and replaced after it.
    public var isTrying: Bool {
        switch self {
        case .creating, .activating, .deactivating, .removing, .mounting, .unmounting: true
        case .inactive, .active, .faulty: false
        }
    }

    /// The moves the engine may make; anything else is a bug or damaged state.
    func canMove(to next: DeviceState) -> Bool {
        switch (self, next) {
        case (.creating, .active), (.creating, .inactive), (.creating, .faulty), (.creating, .removing): true
        case (.inactive, .activating), (.inactive, .removing), (.inactive, .mounting), (.inactive, .deactivating), (.inactive, .faulty): true
        case (.activating, .active), (.activating, .inactive), (.activating, .faulty): true
        case (.active, .deactivating), (.active, .removing), (.active, .active), (.active, .mounting), (.active, .unmounting), (.active, .activating),
             (.active, .faulty): true
        case (.deactivating, .inactive), (.deactivating, .active), (.deactivating, .faulty): true
        case (.removing, .faulty), (.removing, .inactive), (.removing, .active): true
        case (.mounting, .active), (.mounting, .inactive), (.mounting, .faulty): true
        case (.unmounting, .active), (.unmounting, .inactive), (.unmounting, .faulty): true
        case (.faulty, .removing), (.faulty, .activating), (.faulty, .inactive), (.faulty, .active): true
        default: false
        }
    }
}

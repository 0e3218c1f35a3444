import Foundation
import KBSSystem

/// Named points between a stored "trying" state and the backend call's outcome where tests make
/// the process die (`KBS_CRASH_AT=<name>`), to prove that every such point is recoverable.
enum CrashPoint: String, CaseIterable {
    case prepareAfterRecord = "prepare.after-record"
    case prepareAfterClone = "prepare.after-clone"
    case prepareAfterAttach = "prepare.after-attach"
    case commitAfterMark = "commit.after-mark"
    case commitAfterDetach = "commit.after-detach"
    case removeAfterMark = "remove.after-mark"
    case removeAfterDetach = "remove.after-detach"
    case removeAfterDelete = "remove.after-delete"

    /// Read once per process, at the first crash point reached; unset in production.
    private static let armed: CrashPoint? = ProcessInfo.processInfo.environment["KBS_CRASH_AT"].flatMap(CrashPoint.init(rawValue:))

    /// Ends the process at once, as a kill -9 would, when this point is armed.
    @inline(__always)
    func hit() {
        if Self.armed == self { ProcessExit.immediately(86) }
    }
}

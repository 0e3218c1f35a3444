/// Who grows a snapshot's filesystem when its device grows.
public enum FilesystemGrowth: Sendable, Equatable {
    /// The engine: online where the engine has it mounted, else on a mount of its own, unless a
    /// process (a hypervisor) has the device open.
    case engine
    /// Whoever uses the device (a guest that has it attached grows it from inside).
    case deviceOnly
}

/// What growing a snapshot's device did.
public struct ResizeOutcome: Sendable, Equatable {
    /// The device's size now.
    public var sizeBytes: UInt64
    /// Whether its filesystem fills the device now.
    public var filesystemGrown: Bool
    /// How the filesystem was grown, or why it was not and what to do.
    public var detail: String
}

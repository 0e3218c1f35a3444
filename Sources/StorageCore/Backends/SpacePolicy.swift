/// How a pool guards and grows its data space: the part of its settings that can change while it
/// is in use (`snapctl pool set`). Stored with the backend's settings; every process using the
/// pool takes it at open, and the daemon's upkeep pass takes a change made by another process.
public struct SpacePolicy: Sendable, Equatable, Codable {
    /// New snapshots and volumes are refused while less than this fraction is free.
    public var minFree: Double
    /// How the pool grows by itself; nil: it does not.
    public var autoGrow: EngineConfiguration.AutoGrowth?

    public init(minFree: Double, autoGrow: EngineConfiguration.AutoGrowth? = nil) {
        self.minFree = minFree
        self.autoGrow = autoGrow
    }

    /// Checks the values together, as the configuration's keys are checked.
    public func validate() throws(StorageError) {
        guard minFree >= 0, minFree < 1 else {
            throw StorageError(.invalidArgument, "min_free must be a fraction below 100% (e.g. 10%)")
        }
        guard let growth = autoGrow else { return }
        guard growth.threshold > 0, growth.threshold < 1 else {
            throw StorageError(.invalidArgument, "auto_grow_threshold must be between 0% and 100%")
        }
        guard growth.threshold > minFree else {
            throw StorageError(.invalidArgument, "auto_grow_threshold must be above min_free, or the pool refuses snapshots before it grows")
        }
    }
}

/// A configuration section with the space keys (`min_free`, `auto_grow_*`) a new pool starts with.
protocol SpacePolicyKeys {
    var minFree: Double { get }
    var autoGrow: EngineConfiguration.AutoGrowth { get }
}

extension SpacePolicyKeys {
    /// The space policy a new pool is made with (a step of 0: it does not grow by itself).
    var policy: SpacePolicy { SpacePolicy(minFree: minFree, autoGrow: autoGrow.step > 0 ? autoGrow : nil) }
}

/// What a `snapctl pool set` changes; nil leaves a value as it is.
public struct SpacePolicyChange: Sendable, Equatable {
    public var minFree: Double?
    public var autoGrowStep: UInt64?
    public var autoGrowThreshold: Double?
    public var autoGrowLimit: UInt64?

    public init(minFree: Double? = nil, autoGrowStep: UInt64? = nil, autoGrowThreshold: Double? = nil, autoGrowLimit: UInt64? = nil) {
        self.minFree = minFree
        self.autoGrowStep = autoGrowStep
        self.autoGrowThreshold = autoGrowThreshold
        self.autoGrowLimit = autoGrowLimit
    }

    public var isEmpty: Bool { self == SpacePolicyChange() }

    /// `policy` with the change made (a step of 0 turns growing off).
    func applied(to policy: SpacePolicy) -> SpacePolicy {
        var result = policy
        if let minFree { result.minFree = minFree }
        if autoGrowStep != nil || autoGrowThreshold != nil || autoGrowLimit != nil {
            var growth = policy.autoGrow ?? EngineConfiguration.AutoGrowth()
            if let autoGrowStep { growth.step = autoGrowStep }
            if let autoGrowThreshold { growth.threshold = autoGrowThreshold }
            if let autoGrowLimit { growth.limit = autoGrowLimit }
            result.autoGrow = growth.step > 0 ? growth : nil
        }
        return result
    }
}

/// A backend's stored settings that carry a space policy.
protocol SpacePolicySettings: Codable {
    var policy: SpacePolicy { get set }
}

extension SpacePolicySettings {
    /// These settings with `policy`, encoded for the pool record.
    func encoded(with policy: SpacePolicy) throws(StorageError) -> [UInt8] {
        var changed = self
        changed.policy = policy
        return try StoredSettings.encode(changed)
    }

    /// The policy in settings stored as `bytes`.
    static func policy(stored bytes: [UInt8], kind: String) throws(StorageError) -> SpacePolicy {
        try StoredSettings.decode(Self.self, bytes, kind: kind).policy
    }
}

/// A backend whose pool a `SpaceGuard` guards under a policy kept in its stored settings: the
/// policy's part of the backend interface, one way for every such backend.
protocol PolicyGuardedBackend: BlockBackend {
    associatedtype Settings: SpacePolicySettings
    var settings: Settings { get }
    var space: SpaceGuard { get }
}

extension PolicyGuardedBackend {
    var minFree: Double? { space.minFree }

    var spacePolicy: SpacePolicy? { space.policy }

    func storedSettings(with policy: SpacePolicy) throws(StorageError) -> [UInt8] {
        try space.check(policy)
        return try settings.encoded(with: policy)
    }

    func spacePolicy(stored bytes: [UInt8]) throws(StorageError) -> SpacePolicy { try Settings.policy(stored: bytes, kind: kind) }

    func apply(_ policy: SpacePolicy) { space.apply(policy) }
}

/// Changing how a pool guards and grows its space while it is in use (`snapctl pool set`).
extension Pool {
    /// Stores `change` made to the pool's space policy and takes it in this process; other
    /// processes take it at open, and the daemon in its next upkeep pass. Returns the new policy.
    /// A policy that does not hold together is refused and nothing changes.
    func setSpacePolicy(_ change: SpacePolicyChange) throws(StorageError) -> SpacePolicy {
        let policy = try store.write { (txn) throws(StorageError) -> SpacePolicy in
            guard var record = try txn.pool() else { throw StorageError.inconsistent("the pool record is missing") }
            let policy = change.applied(to: try backend.spacePolicy(stored: record.backendSettings))
            record.backendSettings = try backend.storedSettings(with: policy)
            try txn.setPool(record)
            return policy
        }
        backend.apply(policy)
        return policy
    }

    /// Takes the space policy stored in the pool record when another process changed it.
    func takeStoredSpacePolicy() throws(StorageError) {
        guard backend.spacePolicy != nil else { return }
        let stored = try store.read { (txn) throws(StorageError) in try txn.pool()?.backendSettings }
        if let stored { backend.apply(try backend.spacePolicy(stored: stored)) }
    }
}

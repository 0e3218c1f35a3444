import KBSSystem

/// Layers as tar streams, the graph-driver way of filling a snapshot (ApplyDiff).
extension SnapshotNamespace {
    /// Writes the uncompressed layer tar read from `fd` into the active snapshot `key`, through a
    /// host mount of its filesystem (see `LayerApplier` for whiteouts and what is refused), then
    /// flushes that filesystem to the device, so that a guest given the device sees all of it.
    /// The mount is dropped again whatever happens. A refused tar leaves the snapshot holding
    /// what came before the refusal: remove it, or prepare it again.
    public func applyLayer(_ key: String, tar fd: Int32, options: ApplyOptions = .init()) async throws(StorageError) -> ApplyResult {
        let snapshot = try stat(key)
        guard snapshot.kind == .active else {
            throw StorageError(.failedPrecondition, "snapshot \(StorageError.quoted(key)) is \(snapshot.kind); a layer is applied to an active snapshot")
        }
        let directory = try await mountFilesystem(key)
        let applied: Result<ApplyResult, StorageError>
        do throws(StorageError) {
            applied = .success(try await engine.blocking { (_) throws(StorageError) -> ApplyResult in
                let result = try LayerApplier.apply(tar: fd, to: directory, options: options)
                try system("cannot flush \(directory) to its device") { () throws(SystemCallError) in
                    try FileDescriptor.withOpened(directory, .directory) { (dir) throws(SystemCallError) in try dir.syncFilesystem() }
                }
                return result
            })
        } catch {
            applied = .failure(error)
        }
        do throws(StorageError) {
            try await unmountFilesystem(key)
        } catch {
            if case .success = applied { throw error }
        }
        return try applied.get()
    }
}

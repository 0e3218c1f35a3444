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

    /// What the snapshot `key` changed against its parent (against an empty tree without one).
    public func changes(_ key: String) async throws -> [LayerChange] {
        try await withLayerAndParent(key) { (layer, parent) throws(StorageError) in try LayerComparison.changes(layer: layer, parent: parent) }
    }

    /// Writes the snapshot's changes against its parent to `fd` as an uncompressed OCI layer tar
    /// (Diff); `applyLayer` of it onto the parent gives the snapshot's tree back. Returns the bytes
    /// of file data in it.
    public func exportLayer(_ key: String, to fd: Int32) async throws -> Int64 {
        try await withLayerAndParent(key) { (layer, parent) throws(StorageError) in
            try LayerExporter.export(layer: layer, changes: try LayerComparison.changes(layer: layer, parent: parent), to: fd)
        }
    }

    /// Runs `body` on the executor with the snapshot and its parent mounted on the host.
    private func withLayerAndParent<T: Sendable>(
        _ key: String, _ body: @escaping @Sendable (String, String?) throws(StorageError) -> T
    ) async throws -> T {
        let parent = try stat(key).parent
        return try await withMountedSnapshot(key) { layer in
            guard let parent else {
                return try await engine.blocking { (_) throws(StorageError) in try body(layer, nil) }
            }
            return try await withMountedSnapshot(parent) { below in
                try await engine.blocking { (_) throws(StorageError) in try body(layer, below) }
            }
        }
    }
}

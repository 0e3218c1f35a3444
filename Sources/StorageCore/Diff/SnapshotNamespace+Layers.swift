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
        return try await whileMounted(key) { (directory) async throws(StorageError) in
            try await engine.blocking { (_) throws(StorageError) -> ApplyResult in
                let result = try LayerApplier.apply(tar: fd, to: directory, options: options)
                try system("cannot flush \(directory) to its device") { () throws(SystemCallError) in
                    try FileDescriptor.withOpened(directory, .directory) { (dir) throws(SystemCallError) in try dir.syncFilesystem() }
                }
                return result
            }
        }
    }

    /// What the snapshot `key` changed against its parent (against an empty tree without one).
    public func changes(_ key: String) async throws(StorageError) -> [LayerChange] {
        try await withLayerAndParent(key) { (layer, parent) throws(StorageError) in try LayerComparison.changes(layer: layer, parent: parent) }
    }

    /// Writes the snapshot's changes against its parent to `fd` as an uncompressed OCI layer tar
    /// (Diff); `applyLayer` of it onto the parent gives the snapshot's tree back. Returns the bytes
    /// of file data in it.
    public func exportLayer(_ key: String, to fd: Int32) async throws(StorageError) -> Int64 {
        try await withLayerAndParent(key) { (layer, parent) throws(StorageError) in
            try LayerExporter.export(layer: layer, changes: try LayerComparison.changes(layer: layer, parent: parent), to: fd)
        }
    }

    /// Runs `body` on the executor with the snapshot and its parent mounted on the host.
    private func withLayerAndParent<T: Sendable>(
        _ key: String, _ body: @escaping @Sendable (String, String?) throws(StorageError) -> T
    ) async throws(StorageError) -> T {
        let parent = try stat(key).parent
        return try await whileMounted(key) { (layer) async throws(StorageError) -> T in
            guard let parent else {
                return try await engine.blocking { (_) throws(StorageError) in try body(layer, nil) }
            }
            return try await whileMounted(parent) { (below) async throws(StorageError) -> T in
                try await engine.blocking { (_) throws(StorageError) in try body(layer, below) }
            }
        }
    }

    /// Runs `body` with the snapshot's filesystem mounted on the host (counted), unmounted again
    /// whatever happens; a failure to unmount is reported unless `body` failed first.
    private func whileMounted<T: Sendable>(_ key: String, _ body: (String) async throws(StorageError) -> T) async throws(StorageError) -> T {
        let directory = try await mountFilesystem(key)
        let result: Result<T, StorageError>
        do throws(StorageError) {
            result = .success(try await body(directory))
        } catch {
            result = .failure(error)
        }
        do throws(StorageError) {
            try await unmountFilesystem(key)
        } catch {
            if case .success = result { throw error }
        }
        return try result.get()
    }
}

import KBSSystem

/// What a layer is compared with: its parent, an empty tree, or another snapshot (containers/storage
/// names the parent in each Diff and Changes call, and may name one that is not the layer's own).
public enum LayerBase: Sendable, Equatable {
    case parent
    case empty
    case snapshot(String)
}

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
                try flushFilesystem(directory)
                return result
            }
        }
    }

    /// What the snapshot `key` changed against `base` (its parent unless said otherwise).
    public func changes(_ key: String, against base: LayerBase = .parent) async throws(StorageError) -> [LayerChange] {
        try await withLayer(key, against: base) { (layer, below) throws(StorageError) in try LayerComparison.changes(layer: layer, parent: below) }
    }

    /// Writes the snapshot's changes against `base` (its parent unless said otherwise) to `fd` as
    /// an uncompressed OCI layer tar (Diff); `applyLayer` of it onto that base gives the
    /// snapshot's tree back. Returns the bytes of file data in it.
    public func exportLayer(_ key: String, against base: LayerBase = .parent, to fd: Int32) async throws(StorageError) -> Int64 {
        try await withLayer(key, against: base) { (layer, below) throws(StorageError) in
            try LayerExporter.export(layer: layer, changes: try LayerComparison.changes(layer: layer, parent: below), to: fd)
        }
    }

    /// The bytes of file data `exportLayer` would write (DiffSize): regular files added or
    /// modified against `base`, each file once however many names it has.
    public func changedBytes(_ key: String, against base: LayerBase = .parent) async throws(StorageError) -> Int64 {
        try await withLayer(key, against: base) { (layer, below) throws(StorageError) in
            try LayerExporter.dataBytes(layer: layer, changes: try LayerComparison.changes(layer: layer, parent: below))
        }
    }

    /// Runs `body` on the executor with the snapshot and the tree it is compared with mounted on the host.
    private func withLayer<T: Sendable>(
        _ key: String, against base: LayerBase, _ body: @escaping @Sendable (String, String?) throws(StorageError) -> T
    ) async throws(StorageError) -> T {
        let below: String?
        switch base {
        case .parent: below = try stat(key).parent
        case .empty: below = nil
        case .snapshot(let other): below = other
        }
        return try await whileMounted(key) { (layer) async throws(StorageError) -> T in
            guard let below else {
                return try await engine.blocking { (_) throws(StorageError) in try body(layer, nil) }
            }
            return try await whileMounted(below) { (tree) async throws(StorageError) -> T in
                try await engine.blocking { (_) throws(StorageError) in try body(layer, tree) }
            }
        }
    }

    /// Runs `body` with the snapshot's filesystem mounted on the host (counted), unmounted again
    /// whatever happens; a failure to unmount is reported unless `body` failed first.
    func whileMounted<T: Sendable>(_ key: String, _ body: (String) async throws(StorageError) -> T) async throws(StorageError) -> T {
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

import Logging
import StorageCore

/// What a `kbd_driver *` points at: this process's engine for the state directory, through one
/// namespace of layers.
final class Driver: Sendable {
    let engine: StorageEngine
    let layers: LayerStore

    private init(engine: StorageEngine, namespace: String) {
        self.engine = engine
        layers = LayerStore(engine.snapshots(in: namespace))
    }

    /// Opens (or makes) the pool in `stateDirectory` with "KEY=VALUE" `options`: the engine's
    /// settings, plus `namespace` and `log_level` (the driver's own).
    static func open(_ stateDirectory: String, options: [String]) async throws(StorageError) -> Driver {
        var configuration = EngineConfiguration()
        var namespace = LayerStore.defaultNamespace
        var level = Logger.Level.warning
        for option in options {
            guard let equals = option.firstIndex(of: "=") else {
                throw StorageError(.invalidArgument, "driver option \"\(option)\" is not KEY=VALUE")
            }
            let key = String(option[..<equals]).lowercased()
            let value = String(option[option.index(after: equals)...])
            switch key {
            case "namespace":
                guard !value.isEmpty else { throw StorageError(.invalidArgument, "driver option namespace is empty") }
                try VolumeSet.checkFrontendNamespace(value)
                namespace = value
            case "log_level":
                guard let parsed = Logger.Level(rawValue: value.lowercased()) else {
                    throw StorageError(.invalidArgument, "log_level \"\(value)\": use trace, debug, info, notice, warning, error or critical")
                }
                level = parsed
            case "size":
                try configuration.set("default_size", to: value)
            default:
                try configuration.set(key, to: value)
            }
        }
        try configuration.validate()
        var logger = Logger(label: "kata-block.driver")
        logger.logLevel = level
        let engine = try await StorageEngine.openOrCreate(stateDirectory: stateDirectory, configuration: configuration, logger: logger)
        return Driver(engine: engine, namespace: namespace)
    }

    /// Pool-wide status lines for containers/storage's `Status`.
    func status() async throws(StorageError) -> [(String, String)] {
        let status = try await engine.status()
        return [
            ("State directory", engine.stateDirectory),
            ("Backend", status.backend),
            ("Layout", status.layout),
            ("Filesystem", status.filesystem.rawValue),
            ("Namespace", layers.snapshots.name),
            ("Default device size", "\(status.defaultDeviceSize)"),
            ("Data space used", "\(status.data.usedBytes)"),
            ("Data space total", "\(status.data.totalBytes)"),
            ("Metadata space used", "\(status.metadata.usedBytes)"),
            ("Metadata space total", "\(status.metadata.totalBytes)"),
            ("Snapshots", "\(status.snapshots)"),
            ("Layers in this namespace", "\(status.snapshotsByNamespace[layers.snapshots.name] ?? 0)"),
            ("Devices", "\(status.devices)"),
            ("Faulty devices", "\(status.faultyDevices)"),
        ]
    }
}

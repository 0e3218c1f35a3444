import Foundation
import Logging

/// Where a backend keeps its own files and locks, and where it logs.
public struct BackendContext: Sendable {
    /// `<state>/pool`: the backend's own directory.
    public let poolDirectory: String
    public let logger: Logger
}

/// Makes and opens one kind of backend. Each backend stores its settings in its own encoding,
/// which the graph keeps opaquely in the pool record.
public protocol BackendFactory: Sendable {
    /// The kind a configuration names and the pool record stores ("file", "dm-thin").
    var kind: String { get }

    /// Whether this host can run it; "auto" takes the first registered kind that can.
    func isAvailable() -> Bool

    /// Makes a new pool's backend as `configuration` says; returns it and the settings to store.
    func create(_ configuration: EngineConfiguration, in context: BackendContext) throws(StorageError) -> (backend: any BlockBackend, settings: [UInt8])

    /// Opens the backend of an existing pool from its stored settings (bringing it up after a reboot).
    func open(settings: [UInt8], in context: BackendContext) throws(StorageError) -> any BlockBackend

    /// The settings schema 1 stored as labels (`pool` and, for some kinds, `backend`), in today's form.
    func settings(fromLegacyLabels pool: [String: String], backend: [String: String]?) throws(StorageError) -> [UInt8]
}

/// The backends a process can use, in the order "auto" prefers them.
public struct BackendRegistry: Sendable {
    public let factories: [any BackendFactory]

    public init(_ factories: [any BackendFactory]) { self.factories = factories }

    /// dm-thin where the kernel has device-mapper, else reflinked files.
    public static let standard = BackendRegistry([ThinPoolFactory(), FilePoolFactory()])

    /// This registry with `factory` in front (replacing one of the same kind).
    public func adding(_ factory: any BackendFactory) -> BackendRegistry {
        BackendRegistry([factory] + factories.filter { $0.kind != factory.kind })
    }

    /// The factory for a stored or configured kind.
    func factory(_ kind: String) throws(StorageError) -> any BackendFactory {
        guard let factory = factories.first(where: { $0.kind == kind }) else {
            throw StorageError(.unavailable, "the \(kind) backend is not part of this build (it has \(factories.map(\.kind).joined(separator: ", ")))")
        }
        return factory
    }

    /// The factory a configuration's `backend` means; "auto" picks the first available one.
    func resolve(_ choice: String) throws(StorageError) -> any BackendFactory {
        guard choice == EngineConfiguration.automaticBackend else { return try factory(choice) }
        guard let available = factories.first(where: { $0.isAvailable() }) else {
            throw StorageError(.unavailable, "no backend can run on this host", remedy: .installDependencies)
        }
        return available
    }
}

/// Settings as the backends store them: JSON of their Codable settings types.
enum StoredSettings {
    static func encode<T: Encodable>(_ value: T) throws(StorageError) -> [UInt8] {
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            return Array(try encoder.encode(value))
        } catch {
            throw StorageError(.internal, "cannot encode backend settings: \(error)")
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], kind: String) throws(StorageError) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(bytes))
        } catch {
            throw StorageError.inconsistent("the stored \(kind) backend settings cannot be read: \(error)")
        }
    }
}

import Synchronization

/// A backend that keeps devices as records in memory: for fast unit tests of the graph only.
/// Its "block devices" are names, not nodes; nothing can be mounted from it. Not in the standard
/// registry: tests add `MemoryBackend.Factory`.
final class MemoryBackend: BlockBackend {
    /// Hands out one instance, so that a test can reopen its pool "after a restart".
    struct Factory: BackendFactory {
        let instance: MemoryBackend
        var kind: String { "memory" }
        func isAvailable() -> Bool { true }
        func create(_ configuration: EngineConfiguration, in context: BackendContext) throws(StorageError) -> (backend: any BlockBackend, settings: [UInt8]) {
            (instance, [])
        }
        func open(settings: [UInt8], in context: BackendContext) throws(StorageError) -> any BlockBackend { instance }
        func settings(fromLegacyLabels pool: [String: String], backend: [String: String]?) throws(StorageError) -> [UInt8] { [] }
    }

    struct Device {
        var size: UInt64
        var origin: UInt32
        var path: String?
        var written: Int64 = 0
    }

    private let devices = Mutex<[UInt32: Device]>([:])
    private let capacity: Int64

    init(capacity: Int64 = 1 << 40) { self.capacity = capacity }

    var kind: String { "memory" }
    var layout: String { "memory" }

    private func missing(_ id: UInt32) -> StorageError {
        StorageError(.notFound, "device \(id) does not exist in the memory pool")
    }

    func createDevice(_ id: UInt32, size: UInt64) throws(StorageError) {
        try devices.withLock { (d) throws(StorageError) in
            guard d[id] == nil else { throw StorageError(.alreadyExists, "device \(id) already exists") }
            d[id] = Device(size: size, origin: 0)
        }
    }

    func snapshotDevice(_ id: UInt32, from origin: UInt32, originPath: String?) throws(StorageError) {
        try devices.withLock { (d) throws(StorageError) in
            guard let source = d[origin] else { throw missing(origin) }
            guard d[id] == nil else { throw StorageError(.alreadyExists, "device \(id) already exists") }
            d[id] = Device(size: source.size, origin: origin)
        }
    }

    func grow(_ id: UInt32, to size: UInt64) throws(StorageError) {
        try devices.withLock { (d) throws(StorageError) in
            guard d[id] != nil else { throw missing(id) }
            d[id]!.size = max(d[id]!.size, size)
        }
    }

    func growAttached(_ id: UInt32, path: String, to size: UInt64) throws(StorageError) { try grow(id, to: size) }

    func activate(_ id: UInt32, size: UInt64, readOnly: Bool) throws(StorageError) -> String {
        try devices.withLock { (d) throws(StorageError) -> String in
            guard d[id] != nil else { throw missing(id) }
            let path = "/dev/memory/\(id)"
            d[id]!.path = path
            return path
        }
    }

    @discardableResult
    func deactivate(_ id: UInt32, path: String) throws(StorageError) -> Bool {
        try devices.withLock { (d) throws(StorageError) -> Bool in
            guard d[id] != nil else { throw missing(id) }
            d[id]!.path = nil
            return false
        }
    }

    func deleteDevice(_ id: UInt32) throws(StorageError) {
        try devices.withLock { (d) throws(StorageError) in
            if d[id]?.path != nil { throw StorageError(.busy, "device \(id) is attached") }
            d[id] = nil
        }
    }

    func usage(of id: UInt32, comparedTo base: UInt32?) throws(StorageError) -> DeviceUsage {
        try devices.withLock { (d) throws(StorageError) -> DeviceUsage in
            guard let device = d[id] else { throw missing(id) }
            return DeviceUsage(exclusiveBytes: device.written, sharedBytes: 0)
        }
    }

    func attachedDevices() throws(StorageError) -> [UInt32: String] {
        devices.withLock { $0.compactMapValues(\.path) }
    }

    func readBytes(of id: UInt32, offset: Int64, count: Int) throws(StorageError) -> [UInt8] {
        try devices.withLock { (d) throws(StorageError) -> [UInt8] in
            guard d[id] != nil else { throw missing(id) }
            return [UInt8](repeating: 0, count: count)
        }
    }

    var providesBlockDevices: Bool { false }

    func shutDown() throws(StorageError) {}

    func deviceIDs() throws(StorageError) -> Set<UInt32> {
        devices.withLock { Set($0.keys) }
    }

    func dataSpace() throws(StorageError) -> SpaceUsage {
        SpaceUsage(usedBytes: devices.withLock { $0.values.reduce(0) { $0 + $1.written } }, totalBytes: capacity)
    }

    /// Test hook: pretend `bytes` were written to the device.
    func recordWrite(_ id: UInt32, bytes: Int64) {
        devices.withLock { $0[id]?.written += bytes }
    }
}

/// Where a thin-pool comes from and how it is guarded; stored with the pool's settings.
public struct ThinPoolSettings: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        /// A thin-pool someone else made and manages; we only add and remove thin devices.
        case existing
        /// Two files, loop-attached: for development and tests.
        case files(data: String, metadata: String)
        /// Two block devices.
        case devices(data: String, metadata: String)
    }

    /// The device-mapper name of the pool device.
    public var poolName: String
    public var source: Source
    /// Data block size in bytes (multiple of 64 KiB between 64 KiB and 1 GiB).
    public var dataBlockSize: UInt64
    /// New snapshots are refused while less than this fraction of data or metadata space is free.
    public var minFreeFraction: Double

    public static let defaultDataBlockSize: UInt64 = 64 << 10

    public init(poolName: String, source: Source, dataBlockSize: UInt64 = defaultDataBlockSize, minFreeFraction: Double = 0.10) {
        self.poolName = poolName
        self.source = source
        self.dataBlockSize = dataBlockSize
        self.minFreeFraction = minFreeFraction
    }

    /// Metadata device size from the kernel guide's formula: 48 bytes per data block, at least
    /// 2 MiB, at most the 16 GiB thin-pool metadata can address; rounded up to 4 KiB.
    public static func metadataSize(dataSize: UInt64, dataBlockSize: UInt64) -> UInt64 {
        let formula = 48 * (dataSize / max(1, dataBlockSize))
        let bounded = min(max(formula, 2 << 20), 16 << 30)
        return (bounded + 4095) / 4096 * 4096
    }

    var labels: [String: String] {
        var result = ["poolName": poolName, "dataBlockSize": "\(dataBlockSize)", "minFree": "\(minFreeFraction)"]
        switch source {
        case .existing: result["source"] = "existing"
        case .files(let data, let metadata): result["source"] = "files"; result["data"] = data; result["metadata"] = metadata
        case .devices(let data, let metadata): result["source"] = "devices"; result["data"] = data; result["metadata"] = metadata
        }
        return result
    }

    init(labels: [String: String]) throws(StorageError) {
        guard let name = labels["poolName"], let block = labels["dataBlockSize"].flatMap(UInt64.init),
              let minFree = labels["minFree"].flatMap(Double.init), let kind = labels["source"] else {
            throw StorageError(.internal, "stored thin-pool settings are incomplete; run `snapctl fsck`")
        }
        let source: Source
        switch (kind, labels["data"], labels["metadata"]) {
        case ("existing", _, _): source = .existing
        case ("files", let data?, let metadata?): source = .files(data: data, metadata: metadata)
        case ("devices", let data?, let metadata?): source = .devices(data: data, metadata: metadata)
        default: throw StorageError(.internal, "stored thin-pool source \(kind) is incomplete; run `snapctl fsck`")
        }
        self.init(poolName: name, source: source, dataBlockSize: block, minFreeFraction: minFree)
    }

    /// Checks what a user asked for before anything is made.
    func validate() throws(StorageError) {
        guard !poolName.isEmpty, poolName.utf8.count <= 100, !poolName.contains("/") else {
            throw StorageError(.invalidArgument, "thin-pool name \(StorageError.quoted(poolName)) must be 1-100 characters without '/'")
        }
        guard dataBlockSize >= 64 << 10, dataBlockSize <= 1 << 30, dataBlockSize % (64 << 10) == 0 else {
            throw StorageError(.invalidArgument, "data block size \(dataBlockSize) must be a multiple of 64 KiB between 64 KiB and 1 GiB")
        }
        guard minFreeFraction >= 0, minFreeFraction < 1 else {
            throw StorageError(.invalidArgument, "min_free must be a fraction between 0 and 1 (e.g. 0.1 for 10%)")
        }
    }
}

import Foundation
import StorageCore

/// The thin-pool a user asked for, from `pool create` options or the `[dm_thin]` config section.
struct ThinPoolChoice: Equatable {
    var poolName = "kata-block-pool"
    /// Use a thin-pool that already exists under `poolName`.
    var existing = false
    var dataDevice: String?
    var metadataDevice: String?
    /// Size of the data file when the pool is made from files under the state directory.
    var dataSize = "64GiB"
    var blockSize = "64KiB"
    var minFree = "10%"

    /// Checked settings; without devices, the pool is made from two files in `stateDir/pool`.
    func options(stateDir: String, filesystem: FilesystemType, deviceSize: UInt64) throws -> PoolOptions {
        guard let block = ByteCount.parse(blockSize) else {
            throw StorageError(.invalidArgument, "block size \"\(blockSize)\": use a size such as 64KiB")
        }
        guard let size = ByteCount.parse(dataSize), size >= 64 << 20 else {
            throw StorageError(.invalidArgument, "data size \"\(dataSize)\": use a size of at least 64MiB, e.g. 64GiB")
        }
        let source: ThinPoolSettings.Source
        switch (existing, dataDevice, metadataDevice) {
        case (true, nil, nil): source = .existing
        case (false, let data?, let metadata?): source = .devices(data: data, metadata: metadata)
        case (false, nil, nil): source = .files(data: "\(stateDir)/pool/data", metadata: "\(stateDir)/pool/metadata")
        default:
            throw StorageError(.invalidArgument, "give both a data and a metadata device, or neither (files in the state directory), or only --existing with --pool-name")
        }
        let settings = ThinPoolSettings(poolName: poolName, source: source, dataBlockSize: block, minFreeFraction: try Self.fraction(minFree))
        return PoolOptions(backend: .thin(settings, dataSize: size), filesystem: filesystem, defaultDeviceSize: deviceSize)
    }

    /// "10%" or "0.1".
    static func fraction(_ text: String) throws -> Double {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasSuffix("%"), let percent = Double(trimmed.dropLast()), percent >= 0, percent < 100 { return percent / 100 }
        if let value = Double(trimmed), value >= 0, value < 1 { return value }
        throw StorageError(.invalidArgument, "min_free \"\(text)\": use a percentage such as 10% (or a fraction such as 0.1)")
    }
}

/// A thin-pool's status line: transaction id, metadata and data block use, and mode.
struct ThinPoolStatus: Sendable, Equatable {
    var transactionID: UInt64
    var usedMetadataBlocks: UInt64
    var totalMetadataBlocks: UInt64
    var usedDataBlocks: UInt64
    var totalDataBlocks: UInt64
    /// "rw", "ro", "out_of_data_space", or "Fail".
    var mode: String
    var needsCheck: Bool
    /// Discards of thin devices reach the data device ("discard_passdown"; the data device
    /// supports discards and the pool was not made with no_discard_passdown or ignore_discard).
    var passesDiscardsDown: Bool

    /// Thin-pool metadata blocks are always 4 KiB.
    static let metadataBlockSize: UInt64 = 4096

    /// Parses `<txid> <used>/<total meta> <used>/<total data> <held root> <mode> ... [needs_check|-]`.
    init(parameters: String) throws(StorageError) {
        let fields = parameters.split(separator: " ").map(String.init)
        func pair(_ text: String) -> (UInt64, UInt64)? {
            let parts = text.split(separator: "/")
            guard parts.count == 2, let a = UInt64(parts[0]), let b = UInt64(parts[1]) else { return nil }
            return (a, b)
        }
        if fields.first == "Fail" {
            throw StorageError(.unavailable, "the thin-pool has failed (metadata or data device error); check the kernel log and run thin_check on its metadata")
        }
        guard fields.count >= 5, let txid = UInt64(fields[0]), let meta = pair(fields[1]), let data = pair(fields[2]) else {
            throw StorageError(.internal, "cannot read thin-pool status \"\(parameters)\"")
        }
        transactionID = txid
        (usedMetadataBlocks, totalMetadataBlocks) = meta
        (usedDataBlocks, totalDataBlocks) = data
        mode = fields[4]
        needsCheck = fields.contains("needs_check")
        passesDiscardsDown = fields.contains("discard_passdown")
    }

    func freeFraction() -> (data: Double, metadata: Double) {
        (Double(totalDataBlocks - usedDataBlocks) / Double(max(1, totalDataBlocks)),
         Double(totalMetadataBlocks - usedMetadataBlocks) / Double(max(1, totalMetadataBlocks)))
    }
}

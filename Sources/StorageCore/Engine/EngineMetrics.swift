import CoreMetrics

/// What the engine counts, for whichever metrics backend the process bootstraps (the daemon's
/// Prometheus endpoint); with none, nothing is recorded. Names and labels are documented in the
/// README ("Metrics").
enum EngineMetrics {
    /// Latency of every changing call, by operation ("prepare", "commit", "remove", ...).
    static let durationLabel = "kata_block_engine_operation_duration_seconds"
    /// Refused or failed changing calls, by operation and error code.
    static let errorsLabel = "kata_block_engine_operation_errors_total"

    /// What reconciliation, cleanup and upkeep found and repaired, by kind.
    static let findingsLabel = "kata_block_reconcile_findings_total"
    /// Devices of removed snapshots the reaper deleted.
    static let reapedLabel = "kata_block_reaper_deleted_total"

    static func record(_ report: ReconcileReport) {
        for (kind, count) in [("abandoned_creations", report.abandonedCreations), ("finished_removals", report.finishedRemovals),
                              ("settled", report.settled), ("orphans_deleted", report.orphansDeleted), ("missing_devices", report.missingDevices)]
        where count > 0 {
            Counter(label: findingsLabel, dimensions: [("kind", kind)]).increment(by: count)
        }
    }

    static func recordReaped(_ count: Int) {
        if count > 0 { Counter(label: reapedLabel).increment(by: count) }
    }

    static func record(_ operation: String, since start: ContinuousClock.Instant, error: StorageError?) {
        Timer(label: durationLabel, dimensions: [("operation", operation)]).recordNanoseconds((ContinuousClock.now - start).nanoseconds)
        if let error {
            Counter(label: errorsLabel, dimensions: [("operation", operation), ("code", error.code.metricName)]).increment()
        }
    }
}

extension StorageError.Code {
    /// The code as a metric label value: "not_found", "no_space", ...
    public var metricName: String { name.replacingOccurrences(of: " ", with: "_") }
}

import CoreMetrics
import StorageCore

/// What the gRPC server counts, for whichever metrics backend the process bootstraps (the
/// daemon's Prometheus endpoint): every call's latency by method, and calls that did not end OK
/// by method and gRPC code. Unknown methods share one label, so a client cannot make new series.
enum RPCMetrics {
    static let durationLabel = "kata_block_rpc_duration_seconds"
    static let errorsLabel = "kata_block_rpc_errors_total"

    /// The method of a route's path ("/containerd.services.snapshots.v1.Snapshots/Prepare" -> "Prepare").
    static func method(of path: String, known: Bool) -> String {
        guard known, let slash = path.lastIndex(of: "/") else { return "unknown" }
        return String(path[path.index(after: slash)...])
    }

    static func record(_ method: String, since start: ContinuousClock.Instant, code: RPCStatus.Code) {
        Timer(label: durationLabel, dimensions: [("method", method)]).recordNanoseconds((ContinuousClock.now - start).nanoseconds)
        if code != .ok {
            Counter(label: errorsLabel, dimensions: [("method", method), ("code", "\(code)")]).increment()
        }
    }
}

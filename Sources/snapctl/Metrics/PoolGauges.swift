import Prometheus
import StorageCore
import Synchronization

/// The pool's state as Prometheus gauges, set from `PoolStatus` at every scrape.
final class PoolGauges: Sendable {
    private let registry: PrometheusCollectorRegistry
    /// Namespaces reported so far: one that went away is reported as 0, not left at its last count.
    private let namespaces = Mutex<Set<String>>([])

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    func update(_ status: PoolStatus) {
        gauge("pool", "data_used", "bytes", "Bytes of the pool's data space in use").set(status.data.usedBytes)
        gauge("pool", "data_total", "bytes", "Bytes of the pool's data space").set(status.data.totalBytes)
        gauge("pool", "store_used", "bytes", "Bytes of the snapshot graph's LMDB store in use").set(status.metadata.usedBytes)
        gauge("pool", "store_total", "bytes", "Bytes the snapshot graph's LMDB store may grow to").set(status.metadata.totalBytes)
        if let thin = status.poolMetadata {
            gauge("pool", "thin_metadata_used", "bytes", "Bytes of the thin-pool's metadata device in use").set(thin.usedBytes)
            gauge("pool", "thin_metadata_total", "bytes", "Bytes of the thin-pool's metadata device").set(thin.totalBytes)
        }
        if let host = status.host {
            gauge("pool", "host_allocated", "bytes", "Bytes the pool's files (file backend, or a thin-pool made from files) occupy on the host filesystem").set(host.allocatedBytes)
            gauge("pool", "host_free", "bytes", "Free bytes of the host filesystem holding the pool's files").set(host.hostFreeBytes)
        }
        gauge("pool", "min_free", "ratio", "Fraction of data space below which new snapshots are refused").set(status.minFree ?? 0)
        let seen = namespaces.withLock { (known) -> Set<String> in
            known.formUnion(status.snapshotsByNamespace.keys)
            return known
        }
        for namespace in seen {
            gauge(nil, "snapshots", "", "Snapshots by pool namespace", [("namespace", namespace)])
                .set(Int64(status.snapshotsByNamespace[namespace] ?? 0))
        }
        for state in DeviceState.allCases {
            gauge(nil, "devices", "", "Devices by lifecycle state", [("state", "\(state)")]).set(Int64(status.devicesByState["\(state)"] ?? 0))
        }
        gauge(nil, "faulty_devices", "", "Devices recorded faulty (a failed call whose undo failed too)").set(Int64(status.faultyDevices))
        gauge("reaper", "backlog", "", "Devices of removed snapshots waiting to be deleted").set(Int64(status.queuedForDeletion))
        gauge(nil, "volumes", "", "Volumes").set(Int64(status.volumes))
    }

    private func gauge(_ subsystem: String?, _ name: String, _ unit: String, _ help: String, _ labels: [(String, String)] = []) -> Gauge {
        let descriptor = MetricNameDescriptor(namespace: "kata_block", subsystem: subsystem, metricName: name, unitName: unit, helpText: help)
        return registry.makeGauge(descriptor: descriptor, labels: labels)
    }
}

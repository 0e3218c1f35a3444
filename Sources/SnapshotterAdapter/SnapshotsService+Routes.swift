/// The snapshots service's methods as containerd's proxy client calls them. Stat, List and the
/// Mounts of an attached device are store reads (LMDB read transactions: they never block nor
/// wait for writers) and are answered on the server's event loop; the rest do I/O and run off it.
extension SnapshotsService {
    static let serviceName = "containerd.services.snapshots.v1.Snapshots"

    var routes: RPCRoutes {
        RPCRoutes(service: Self.serviceName, [
            "Prepare": .unary(prepare(request:)),
            "View": .unary(view(request:)),
            "Mounts": .unary(now: attachedMounts(request:), mounts(request:)),
            "Commit": .unary(commit(request:)),
            "Remove": .unary(remove(request:)),
            "Stat": .unaryNow(stat(request:)),
            "Update": .unary(update(request:)),
            "List": .serverStreamingNow(list(request:)),
            "Usage": .unary(usage(request:)),
            "Cleanup": .unary(cleanup(request:)),
        ])
    }
}

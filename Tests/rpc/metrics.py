"""The daemon's Prometheus endpoint, scraped with a real HTTP client (urllib) before and after
gRPC calls (grpcio): per-RPC and per-operation latency histograms, errors by method and code,
the pool's gauges; other paths and methods refused.   metrics.py SOCKET METRICS_URL"""
import sys
import urllib.error
import urllib.request

import grpc

from checks import case, check, report
from snapshots_api import pb, stub

socket_path, url = sys.argv[1], sys.argv[2]
channel = grpc.insecure_channel(f"unix:{socket_path}")
call = {name: stub(channel, name) for name in ["Prepare", "Commit", "Remove", "Stat"]}


def scrape():
    """The exposition as {'name{labels}': value}, and its content type."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        kind = response.headers.get("Content-Type", "")
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            samples[series] = float(value)
    return samples, kind


def value(samples, series):
    return samples.get(series, 0.0)


@case
def values_move():
    before, kind = scrape()
    check("the endpoint answers the text exposition format", kind.startswith("text/plain; version=0.0.4"), kind)
    for gauge in ["kata_block_pool_data_used_bytes", "kata_block_pool_data_total_bytes", "kata_block_pool_store_used_bytes",
                  "kata_block_faulty_devices", "kata_block_reaper_backlog", 'kata_block_devices{state="inactive"}']:
        check(f"{gauge} is reported", gauge in before, str(sorted(before))[:400])
    check("the data space is not empty", value(before, "kata_block_pool_data_total_bytes") > 0)

    for i in range(5):
        call["Prepare"](pb.PrepareSnapshotRequest(key=f"metrics-{i}"))
    call["Commit"](pb.CommitSnapshotRequest(name="metrics-committed", key="metrics-0"))
    for _ in range(3):
        try:
            call["Stat"](pb.StatSnapshotRequest(key="metrics-missing"))
        except grpc.RpcError:
            pass
    after, _ = scrape()

    prepared = 'kata_block_rpc_duration_seconds_count{method="Prepare"}'
    check("Prepare calls are counted", value(after, prepared) - value(before, prepared) == 5, f"{value(before, prepared)} -> {value(after, prepared)}")
    engine = 'kata_block_engine_operation_duration_seconds_count{operation="prepare"}'
    check("the engine's prepare operations are counted", value(after, engine) - value(before, engine) == 5)
    check("Prepare latency has a sum", value(after, 'kata_block_rpc_duration_seconds_sum{method="Prepare"}') > 0)
    bucket = 'kata_block_rpc_duration_seconds_bucket{method="Prepare",le="+Inf"}'
    check("the histogram's +Inf bucket counts every call", value(after, bucket) == value(after, prepared), str(value(after, bucket)))
    errors = 'kata_block_rpc_errors_total{method="Stat",code="notFound"}'
    check("Stat of a missing key counts as a notFound error", value(after, errors) - value(before, errors) == 3, str({k: v for k, v in after.items() if "errors" in k}))
    snapshots = 'kata_block_snapshots{namespace="containerd"}'
    check("the snapshots gauge follows", value(after, snapshots) - value(before, snapshots) == 5, f"{value(before, snapshots)} -> {value(after, snapshots)}")
    active = 'kata_block_devices{state="active"}'
    check("active devices follow (4 prepared still attached)", value(after, active) - value(before, active) == 4)

    call["Remove"](pb.RemoveSnapshotRequest(key="metrics-committed"))
    for i in range(1, 5):
        call["Remove"](pb.RemoveSnapshotRequest(key=f"metrics-{i}"))
    last, _ = scrape()
    check("the snapshots gauge goes back down", value(last, snapshots) == value(before, snapshots))
    removes = 'kata_block_engine_operation_duration_seconds_count{operation="remove"}'
    check("remove latency is counted", value(last, removes) - value(after, removes) == 5)


@case
def refusals():
    for path, method, status in [("/other", "GET", 404), ("/metrics", "POST", 405)]:
        request = urllib.request.Request(f"{url}{path}", method=method, data=b"x" if method == "POST" else None)
        try:
            urllib.request.urlopen(request, timeout=10)
            code = 200
        except urllib.error.HTTPError as error:
            code = error.code
        check(f"{method} {path} answers {status}", code == status, str(code))


report("Prometheus endpoint")

"""A graceful stop: SIGTERM reaches `snapctl serve` while a Prepare is running on an open
connection; the Prepare must finish and be answered, and the daemon then stop taking calls.
drain.py SOCKET PID"""
import os
import signal
import sys
import threading
import time

import grpc

from checks import check, report
from snapshots_api import pb, stub

socket_path, pid = sys.argv[1], int(sys.argv[2])
channel = grpc.insecure_channel(f"unix:{socket_path}")
stub(channel, "Stat")  # the connection is made by the first call
try:
    stub(channel, "Stat")(pb.StatSnapshotRequest(key="absent"))
except grpc.RpcError:
    pass
outcome = {}


def prepare():
    try:
        # A large device: the filesystem is grown, which keeps the call busy for a while.
        labels = {"containerd.io/snapshot/kata-block.size": "3GiB"}
        outcome["mounts"] = stub(channel, "Prepare")(pb.PrepareSnapshotRequest(key="drained", labels=labels)).mounts
    except grpc.RpcError as error:
        outcome["error"] = error


thread = threading.Thread(target=prepare)
thread.start()
time.sleep(0.05)
os.kill(pid, signal.SIGTERM)
thread.join()
check("a Prepare in flight at SIGTERM is finished and answered", "mounts" in outcome, str(outcome.get("error")))
time.sleep(0.5)
try:
    stub(channel, "Stat")(pb.StatSnapshotRequest(key="drained"), timeout=5)
    refused = False
except grpc.RpcError as error:
    refused = error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
check("after the drain, new calls are refused (UNAVAILABLE)", refused)
report("graceful drain")

"""containerd's snapshots API for the Python tests: protoc's Python messages (generated into
$KBS_PYPROTO by run.sh) and grpcio's generic client calls, no stubs needed."""
import os
import sys

sys.path.insert(0, os.environ["KBS_PYPROTO"])
from containerd.services.snapshots.v1 import snapshots_pb2 as pb  # noqa: E402

SERVICE = "/containerd.services.snapshots.v1.Snapshots/"
EMPTY = "google.protobuf.Empty"

# method -> (request type, response type, streaming)
METHODS = {
    "Prepare": (pb.PrepareSnapshotRequest, pb.PrepareSnapshotResponse, False),
    "View": (pb.ViewSnapshotRequest, pb.ViewSnapshotResponse, False),
    "Mounts": (pb.MountsRequest, pb.MountsResponse, False),
    "Commit": (pb.CommitSnapshotRequest, None, False),
    "Remove": (pb.RemoveSnapshotRequest, None, False),
    "Stat": (pb.StatSnapshotRequest, pb.StatSnapshotResponse, False),
    "Update": (pb.UpdateSnapshotRequest, pb.UpdateSnapshotResponse, False),
    "List": (pb.ListSnapshotsRequest, pb.ListSnapshotsResponse, True),
    "Usage": (pb.UsageRequest, pb.UsageResponse, False),
    "Cleanup": (pb.CleanupRequest, None, False),
}


def stub(channel, method):
    """A callable for one method on a grpcio channel."""
    from google.protobuf import empty_pb2

    request, response, streaming = METHODS[method]
    response = response or empty_pb2.Empty
    make = channel.unary_stream if streaming else channel.unary_unary
    return make(SERVICE + method, request_serializer=request.SerializeToString, response_deserializer=response.FromString)


def frame(message_bytes, flag=0, length=None):
    """gRPC's 5-byte message framing."""
    n = len(message_bytes) if length is None else length
    return bytes([flag]) + n.to_bytes(4, "big") + message_bytes

"""Python's grpcio client (Debian's python3-grpcio, C-core) against `snapctl serve`: unary and
server-streaming calls, error codes and messages, deadlines, metadata, cancellation, compression
refused, many threads at once.   interop.py SOCKET"""
import os
import subprocess
import sys
import tempfile
import threading

import grpc

from checks import case, check, report
from snapshots_api import pb, stub

socket_path = sys.argv[1]
channel = grpc.insecure_channel(f"unix:{socket_path}")
call = {name: stub(channel, name) for name in ["Prepare", "View", "Mounts", "Commit", "Remove", "Stat", "Update", "List", "Usage", "Cleanup"]}


def names(filters=()):
    return sorted(info.name for response in call["List"](pb.ListSnapshotsRequest(filters=list(filters))) for info in response.info)


def code_of(function):
    try:
        function()
        return None, ""
    except grpc.RpcError as error:
        return error.code(), error.details()


def write_into(mount, megabytes):
    """Mounts a snapshot's mount as containerd would (the test runs as root), writes a file of
    random bytes into it and unmounts it."""
    target = tempfile.mkdtemp(prefix="kbs-py-")
    subprocess.run(["mount", "-t", mount.type, "-o", ",".join(mount.options), mount.source, target], check=True)
    try:
        with open(f"{target}/data", "wb") as out:
            out.write(os.urandom(megabytes << 20))
            os.fsync(out.fileno())
    finally:
        subprocess.run(["umount", target], check=True)
        os.rmdir(target)


@case
def unary_calls():
    mounts = call["Prepare"](pb.PrepareSnapshotRequest(key="py-a", labels={"origin": "python"})).mounts
    check("Prepare answers one block-device mount", len(mounts) == 1 and mounts[0].source.startswith("/dev/"), str(mounts))
    check("Mounts answers the same mounts", list(call["Mounts"](pb.MountsRequest(key="py-a")).mounts) == list(mounts))
    write_into(mounts[0], megabytes=4)
    call["Commit"](pb.CommitSnapshotRequest(name="py-A", key="py-a"))
    view = call["View"](pb.ViewSnapshotRequest(key="py-v", parent="py-A")).mounts
    check("View mounts read-only", "ro" in view[0].options, str(view))
    info = call["Stat"](pb.StatSnapshotRequest(key="py-v")).info
    check("Stat: kind view, parent py-A", info.kind == pb.VIEW and info.parent == "py-A", str(info))
    update = pb.UpdateSnapshotRequest(info=pb.Info(name="py-A", labels={"x": "y"}))
    update.update_mask.paths.append("labels.x")
    labels = dict(call["Update"](update).info.labels)
    check("Update sets a label by mask", labels == {"x": "y"}, str(labels))
    usage = call["Usage"](pb.UsageRequest(key="py-A"))
    check("Usage counts the 4 MiB file written into the snapshot", usage.size >= 4 << 20 and usage.inodes >= 1, str(usage))
    untouched = call["Usage"](pb.UsageRequest(key="py-v"))
    check("Usage of a view nothing was written to is below its parent's", untouched.size < usage.size, f"{untouched} vs {usage}")
    call["Cleanup"](pb.CleanupRequest())


@case
def streaming():
    for i in range(25):
        call["View"](pb.ViewSnapshotRequest(key=f"py-view-{i:02d}", parent="py-A"))
    got = names()
    check("List streams every snapshot", got == sorted(["py-A", "py-v"] + [f"py-view-{i:02d}" for i in range(25)]), str(got))
    check("List with filters (comma: and)", names(["kind==view,name~=^py-view-0"]) == [f"py-view-{i:02d}" for i in range(10)])
    check("List with two filters (either)", names(["name==py-A", "name==py-v"]) == ["py-A", "py-v"])
    responses = call["List"](pb.ListSnapshotsRequest())
    next(responses)
    responses.cancel()
    check("a cancelled List leaves the daemon serving", call["Stat"](pb.StatSnapshotRequest(key="py-A")).info.name == "py-A")


@case
def errors():
    code, details = code_of(lambda: call["Stat"](pb.StatSnapshotRequest(key="nope")))
    check("Stat of a missing key: NOT_FOUND naming it", code == grpc.StatusCode.NOT_FOUND and "nope" in details, f"{code} {details}")
    odd = "schlüssel 100% ünïcødé\tkey"
    code, details = code_of(lambda: call["Stat"](pb.StatSnapshotRequest(key=odd)))
    check("grpc-message round-trips non-ASCII, % and tab (percent-encoded)", code == grpc.StatusCode.NOT_FOUND and odd in details, repr(details))
    code, _ = code_of(lambda: call["Prepare"](pb.PrepareSnapshotRequest(key="py-a", parent="py-A")))
    check("Prepare of an existing key... after commit, the key is free again", code is None)
    code, _ = code_of(lambda: call["Prepare"](pb.PrepareSnapshotRequest(key="py-a", parent="py-A")))
    check("Prepare of an existing key: ALREADY_EXISTS", code == grpc.StatusCode.ALREADY_EXISTS, str(code))
    code, _ = code_of(lambda: names(["kind=="]))
    check("a bad List filter: INVALID_ARGUMENT", code == grpc.StatusCode.INVALID_ARGUMENT, str(code))
    code, _ = code_of(lambda: call["Remove"](pb.RemoveSnapshotRequest(key="py-A")))
    check("Remove of a parent: FAILED_PRECONDITION", code == grpc.StatusCode.FAILED_PRECONDITION, str(code))
    unknown = channel.unary_unary("/containerd.services.snapshots.v1.Snapshots/Rename")
    code, details = code_of(lambda: unknown(b""))
    check("an unknown method: UNIMPLEMENTED naming it", code == grpc.StatusCode.UNIMPLEMENTED and "Rename" in details, f"{code} {details}")
    code, details = code_of(lambda: call["Stat"](pb.StatSnapshotRequest(key="py-A"), compression=grpc.Compression.Gzip))
    check("a gzip-compressed call: UNIMPLEMENTED", code == grpc.StatusCode.UNIMPLEMENTED, f"{code} {details}")


@case
def deadlines_and_metadata():
    info, rpc = call["Stat"].with_call(pb.StatSnapshotRequest(key="py-A"), timeout=5,
                                        metadata=[("containerd-namespace", "default"), ("x-trace-bin", b"\x00\x01\xff")])
    check("a call with a deadline and text and binary metadata succeeds", info.info.name == "py-A")
    check("the answer carries grpc-status 0", rpc.code() == grpc.StatusCode.OK)
    code, _ = code_of(lambda: call["Prepare"](pb.PrepareSnapshotRequest(key="py-late", parent="py-A"), timeout=0.0005))
    check("a Prepare past its deadline: DEADLINE_EXCEEDED", code == grpc.StatusCode.DEADLINE_EXCEEDED, str(code))
    # Either finished whole (the answer lost with the deadline) or not done: never half.
    code, _ = code_of(lambda: call["Stat"](pb.StatSnapshotRequest(key="py-late")))
    if code is None:
        call["Remove"](pb.RemoveSnapshotRequest(key="py-late"))
    check("the late Prepare left all or nothing", code in (None, grpc.StatusCode.NOT_FOUND), str(code))


@case
def many_threads():
    errors = []

    def worker():
        try:
            for _ in range(200):
                call["Stat"](pb.StatSnapshotRequest(key="py-A"))
        except grpc.RpcError as error:
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check("8 threads x 200 Stats on one channel", not errors, str(errors[:1]))


@case
def clean_up():
    for name in names():
        if name.startswith("py-") and name != "py-A":
            call["Remove"](pb.RemoveSnapshotRequest(key=name))
    call["Remove"](pb.RemoveSnapshotRequest(key="py-A"))
    check("everything the client made is removed", names() == [])


report("grpcio interop")

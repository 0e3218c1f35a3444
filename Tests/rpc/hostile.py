"""Malformed and hostile input on the snapshots socket, at the HTTP/2 and gRPC-framing level (h2
for the frames we mean to send, raw bytes for the ones h2 would refuse to make). Each case says
what the server must answer; after every case the daemon must still answer a Stat, and at the
end the store must be as it was.   hostile.py SOCKET"""
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions

from checks import case, check, report
from snapshots_api import SERVICE, frame, pb

socket_path = sys.argv[1]


def setup():
    """A committed snapshot `keep` to Stat and to parent the Prepares; the store's rows before."""
    import grpc
    from snapshots_api import stub

    channel = grpc.insecure_channel(f"unix:{socket_path}")
    stub(channel, "Prepare")(pb.PrepareSnapshotRequest(key="keep-active"))
    stub(channel, "Commit")(pb.CommitSnapshotRequest(name="keep", key="keep-active"))
    return channel


def rows(channel):
    from snapshots_api import stub

    return sorted((i.name, i.parent, i.kind, tuple(sorted(i.labels.items())), i.updated_at.seconds, i.updated_at.nanos)
                  for r in stub(channel, "List")(pb.ListSnapshotsRequest()) for i in r.info)


grpc_channel = setup()
before = rows(grpc_channel)


class Conn:
    """One HTTP/2 connection on the unix socket."""

    def __init__(self, window=None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(socket_path)
        self.h2 = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        if window is not None:
            self.h2.local_settings.initial_window_size = window
        self.h2.initiate_connection()
        self.flush()
        self.closed = False
        self.headers, self.bodies, self.ended = {}, {}, {}

    def flush(self):
        data = self.h2.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, method, body=b"", headers=None, end=True, path=None):
        sid = self.h2.get_next_available_stream_id()
        base = {":method": "POST", ":scheme": "http", ":path": path or SERVICE + method, ":authority": "localhost",
                "content-type": "application/grpc", "te": "trailers"}
        base.update(headers or {})
        self.h2.send_headers(sid, list(base.items()), end_stream=end and not body)
        if body:
            self.h2.send_data(sid, body, end_stream=end)
        self.flush()
        return sid

    def response(self, sid, deadline=10):
        """(headers dict incl. trailers, body bytes, reset code or None) once the stream ends; events
        of other streams read meanwhile are kept for their turn."""
        end = time.time() + deadline
        while sid not in self.ended and time.time() < end and not self.closed:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                self.closed = True
                break
            if not data:
                self.closed = True
                break
            for event in self.h2.receive_data(data):
                stream = getattr(event, "stream_id", None)
                if isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                    self.headers.setdefault(stream, {}).update(dict(event.headers))
                elif isinstance(event, h2.events.DataReceived):
                    self.h2.acknowledge_received_data(event.flow_controlled_length, stream)
                    self.bodies[stream] = self.bodies.get(stream, b"") + event.data
                elif isinstance(event, h2.events.StreamReset):
                    self.ended[stream] = event.error_code
                elif isinstance(event, h2.events.StreamEnded):
                    self.ended[stream] = None
                elif isinstance(event, h2.events.ConnectionTerminated):
                    self.closed = True
            self.flush()
        return self.headers.pop(sid, {}), self.bodies.pop(sid, b""), self.ended.pop(sid, None)

    def close(self):
        self.sock.close()


def stat_request(key="keep"):
    return frame(pb.StatSnapshotRequest(key=key).SerializeToString())


def daemon_answers(after):
    conn = Conn()
    headers, body, _ = conn.response(conn.request("Stat", stat_request()))
    conn.close()
    check(f"after {after}: the daemon still answers", headers.get("grpc-status") == "0" and len(body) > 5, str(headers))


def status_of(method, body=b"", headers=None, path=None, expect=None, what=""):
    conn = Conn()
    got, _, reset = conn.response(conn.request(method, body, headers, path=path))
    conn.close()
    ok = all(got.get(k) == v for k, v in expect.items())
    check(what, ok, f"got {got} reset={reset}")
    daemon_answers(what)
    return got


@case
def grpc_level():
    status_of("Nope", path="/containerd.services.snapshots.v1.Snapshots/Nope", body=stat_request(),
              expect={"grpc-status": "12"}, what="an unknown method: UNIMPLEMENTED")
    status_of("Stat", path="/no.such.Service/Stat", body=stat_request(), expect={"grpc-status": "12"},
              what="an unknown service: UNIMPLEMENTED")
    status_of("Stat", stat_request(), {"content-type": "text/plain"}, expect={":status": "415"},
              what="a wrong content-type: HTTP 415")
    status_of("Stat", stat_request(), {":method": "PUT"}, expect={":status": "405"}, what="a PUT: HTTP 405")
    got = status_of("Stat", stat_request(), {"grpc-encoding": "gzip"}, expect={"grpc-status": "12"},
                    what="grpc-encoding gzip: UNIMPLEMENTED")
    check("... and the answer says what it accepts", got.get("grpc-accept-encoding") == "identity", str(got))
    status_of("Stat", frame(b"\x1f\x8b\x08", flag=1), expect={"grpc-status": "12"}, what="a compressed message: UNIMPLEMENTED")
    status_of("Stat", frame(b"", flag=7), expect={"grpc-status": "13"}, what="a bad message flag: INTERNAL")
    status_of("Stat", frame(b"x" * 10, length=0xFFFFFFFF), expect={"grpc-status": "8"},
              what="a length prefix of 4 GiB: RESOURCE_EXHAUSTED")
    status_of("Stat", frame(b"x" * 10, length=100), expect={"grpc-status": "13"}, what="a truncated message: INTERNAL")
    status_of("Stat", b"\x00\x00", expect={"grpc-status": "13"}, what="a truncated message header: INTERNAL")
    status_of("Stat", stat_request() + stat_request(), expect={"grpc-status": "13"},
              what="two messages to a unary method: INTERNAL")
    status_of("Stat", b"", expect={"grpc-status": "13"}, what="no message at all: INTERNAL")
    status_of("Stat", frame(b"\xff\xff\xff\xff\xff"), expect={"grpc-status": "13"}, what="bytes that are not protobuf: INTERNAL")
    status_of("Stat", stat_request(), {"grpc-timeout": "soon"}, expect={"grpc-status": "13"},
              what="a malformed grpc-timeout: INTERNAL")
    got = status_of("Stat", stat_request("missing"), expect={"grpc-status": "5"}, what="a missing key: NOT_FOUND")
    check("... with its message", "missing" in got.get("grpc-message", ""), str(got))


@case
def oversized():
    conn = Conn()
    sid = conn.request("Prepare", end=False)
    chunk = b"\x00" * 16000
    sent = 0
    headers = {}
    try:
        conn.h2.send_data(sid, frame(b"", length=5 << 20)[:5])
        while sent < (5 << 20) and not conn.closed:
            window = conn.h2.local_flow_control_window(sid)
            if window < len(chunk):
                got, _, _ = conn.response(sid, deadline=0.5)
                headers.update(got)
                if headers:
                    break
                continue
            conn.h2.send_data(sid, chunk)
            conn.flush()
            sent += len(chunk)
    except Exception as error:  # the server may end the stream while we send
        print(f"#    sending stopped: {error!r}")
    if not headers:
        headers, _, _ = conn.response(sid, deadline=5)
    conn.close()
    check("a 5 MiB request: RESOURCE_EXHAUSTED before it is all sent", headers.get("grpc-status") == "8", str(headers))
    daemon_answers("a 5 MiB request")


@case
def deadline_on_the_server():
    conn = Conn()
    got, _, _ = conn.response(conn.request("Prepare", frame(pb.PrepareSnapshotRequest(key="late", parent="keep").SerializeToString()),
                                           {"grpc-timeout": "1m"}))
    conn.close()
    check("a Prepare with grpc-timeout 1m: DEADLINE_EXCEEDED or done in time", got.get("grpc-status") in ("0", "4"), str(got))
    daemon_answers("a server-side deadline")


@case
def reset_mid_call():
    conn = Conn()
    sid = conn.request("Prepare", frame(pb.PrepareSnapshotRequest(key="reset", parent="keep").SerializeToString()))
    conn.h2.reset_stream(sid)
    conn.flush()
    time.sleep(0.5)
    conn.close()
    daemon_answers("RST_STREAM in the middle of a Prepare")


@case
def raw_bytes():
    for what, payload in [
        ("garbage instead of the connection preface", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("a preface and a truncated frame", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x10\x04\x00\x00\x00\x00\x00\x00\x01"),
        ("a preface and a frame of an unknown type with a huge length", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\xff\xff\xff\x42\x00\x00\x00\x00\x01" + b"x" * 100),
        ("a preface and HEADERS with an undecodable block", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"
         + b"\x00\x00\x04\x01\x05\x00\x00\x00\x01\xff\xff\xff\xff"),
    ]:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(socket_path)
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)  # and nothing more: the server must not wait for the rest
        try:
            while s.recv(65536):
                pass
            closed = True
        except socket.timeout:
            closed = False
        s.close()
        check(f"{what}: the server closes the connection", closed)
        daemon_answers(what)


@case
def stream_flood():
    conn = Conn()
    conn.response(conn.request("Stat", stat_request()))  # the server's SETTINGS are read
    limit = conn.h2.remote_settings.max_concurrent_streams
    body = stat_request()
    sids = []
    for _ in range(limit):
        sids.append(conn.request("Stat", body))
    answered = 0
    for sid in sids:
        got, _, _ = conn.response(sid, deadline=10)
        answered += got.get("grpc-status") == "0"
    conn.close()
    check(f"{limit} streams opened at once on one connection (the advertised limit) are all answered", answered == limit,
          f"{answered} answered")
    daemon_answers("a flood of streams up to the limit")
    # A client that ignores the limit (streams it keeps open: headers, never a message) gets the
    # streams past it refused (RST_STREAM); its connection and everyone else's calls go on.
    rude = Conn()
    rude.response(rude.request("Stat", stat_request()))
    rude.h2.remote_settings.max_concurrent_streams = 1 << 20
    rude.h2.remote_settings.acknowledge()
    opened = [rude.request("Stat", end=False) for _ in range(limit + 50)]
    refused = 0
    for sid in opened[limit:]:
        try:
            _, _, reset = rude.response(sid, deadline=5)
        except h2.exceptions.ProtocolError:  # the server ended the connection (GOAWAY): h2 stops there
            rude.closed = True
            break
        refused += reset is not None
    check(f"streams past the limit are refused ({refused} of 50 reset) or the connection closed", refused == 50 or rude.closed,
          f"refused={refused} closed={rude.closed}")
    rude.close()
    daemon_answers("a client past the stream limit")


@case
def connection_churn():
    for _ in range(200):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(socket_path)
        s.close()
    daemon_answers("200 connections opened and dropped")


@case
def slow_reader():
    # A List whose reader never opens its flow-control window: the server must not block others.
    slow = Conn(window=0)
    slow.request("List", frame(pb.ListSnapshotsRequest().SerializeToString()))
    time.sleep(0.3)
    daemon_answers("a List stuck on a reader with a zero window")
    slow.close()
    daemon_answers("the stuck reader went away")


@case
def store_unchanged():
    from snapshots_api import stub

    # The Prepares cut short by their deadline or reset either finished whole or did nothing.
    leftovers = [r for r in rows(grpc_channel) if r[0] in ("late", "reset")]
    for row in leftovers:
        stub(grpc_channel, "Remove")(pb.RemoveSnapshotRequest(key=row[0]))
    print(f"#    finished Prepares of the cut-short calls: {[r[0] for r in leftovers]}")
    check("the store is as it was before the hostile input", rows(grpc_channel) == before)
    stub(grpc_channel, "Remove")(pb.RemoveSnapshotRequest(key="keep"))


report("hostile input")

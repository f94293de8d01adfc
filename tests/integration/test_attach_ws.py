"""GET /containers/{id}/attach/ws: attaching over a WebSocket, compared with the reference
dockerd. dockerd sends the output raw (no stdcopy header, stdout and stderr alike) in binary
messages (text before API 1.28), writes every client message to stdin, sends a close frame
when the output ends, and attached all three streams regardless of the query before 1.42.
The reference dockerd speaks API 1.41 at most, so the shared scenarios use /v1.41."""

from __future__ import annotations

import socket
import struct
import time

import pytest
import websocket  # websocket-client

from harness import free_tcp_port, wait_until

V = "/v1.41"
HANDSHAKE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


def create(d, image, cmd, **config) -> str:
    r = d.raw("POST", f"{V}/containers/create", {"Image": image, "Cmd": cmd, **config})
    assert r.status == 201, r
    return r.json()["Id"]


def start(d, cid) -> None:
    r = d.raw("POST", f"{V}/containers/{cid}/start")
    assert r.status == 204, r


def running(d, cid) -> bool:
    return d.raw("GET", f"{V}/containers/{cid}/json").json()["State"]["Running"]


def wait_exit(d, cid) -> None:
    r = d.raw("POST", f"{V}/containers/{cid}/wait", timeout=20)
    assert r.status == 200, r


def connect(d, cid, query, version=V) -> websocket.WebSocket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(15)
    sock.connect(d.sock)
    # The URL's host is not used: the socket is already connected.
    return websocket.create_connection(
        f"ws://localhost{version}/containers/{cid}/attach/ws?{query}", socket=sock, timeout=15)


class Received:
    def __init__(self):
        self.opcodes: set[int] = set()
        self.data = b""
        self.close_code: int | None = None
        self.eof = False


def receive(ws, until: bytes | None = None, timeout: float = 15.0) -> Received:
    """Collects messages until `until` has arrived, or else until the server's close frame
    and the end of the connection."""
    got = Received()
    ws.settimeout(timeout)
    while until is None or until not in got.data:
        try:
            frame = ws.recv_frame()
        except (websocket.WebSocketConnectionClosedException, ConnectionResetError):
            got.eof = True
            break
        if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
            if len(frame.data) >= 2:
                got.close_code = struct.unpack("!H", frame.data[:2])[0]
            try:
                ws.send_close()  # dockerd hangs up without waiting for the answer
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif frame.opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
            got.opcodes.add(frame.opcode)
            got.data += frame.data if isinstance(frame.data, bytes) else frame.data.encode()
    return got


def assert_closed_by_server(got: Received) -> None:
    assert got.close_code == 1000, "no normal close frame before the server hung up"
    assert got.eof


def lines(data: bytes) -> list[bytes]:
    """stdout and stderr travel apart, so they may arrive (and be logged) either way round."""
    return sorted(data.splitlines(keepends=True))


def test_stdin_reaches_the_container_and_output_comes_back(target):
    d, image = target
    cid = create(d, image, ["cat"], OpenStdin=True)
    start(d, cid)
    ws = connect(d, cid, "stream=1&stdin=1&stdout=1&stderr=1")
    try:
        ws.send("hello\n")  # a text message
        got = receive(ws, until=b"hello\n")
        assert got.data == b"hello\n"
        assert got.opcodes == {websocket.ABNF.OPCODE_BINARY}
        ws.send_binary(b"bin\x01\n")
        assert receive(ws, until=b"bin\x01\n").data == b"bin\x01\n"
    finally:
        ws.close()
    # The client leaving ends the attach, not the container (no StdinOnce).
    time.sleep(0.5)
    assert running(d, cid)
    # The next attach works as the first did.
    ws = connect(d, cid, "stream=1&stdin=1&stdout=1")
    try:
        ws.send("again\n")
        assert receive(ws, until=b"again\n").data == b"again\n"
    finally:
        ws.close()


def test_client_close_ends_stdin_of_a_stdin_once_container(target):
    d, image = target
    cid = create(d, image, ["cat"], OpenStdin=True, StdinOnce=True, AttachStdin=True)
    ws = connect(d, cid, "stream=1&stdin=1&stdout=1&stderr=1")
    start(d, cid)
    ws.send("once\n")
    assert receive(ws, until=b"once\n").data == b"once\n"
    ws.close()
    wait_until(lambda: not running(d, cid), timeout=10, what="cat to see the end of stdin")


def test_live_output_then_close_when_the_container_exits(target):
    d, image = target
    cid = create(d, image, ["sh", "-c", "echo a; echo b >&2"])
    # Attached before the start, so no output can be missed.
    ws = connect(d, cid, "stream=1&stdout=1&stderr=1")
    start(d, cid)
    got = receive(ws)
    assert lines(got.data) == [b"a\n", b"b\n"]  # raw bytes: no 8-byte stdcopy headers
    assert got.opcodes == {websocket.ABNF.OPCODE_BINARY}
    assert_closed_by_server(got)


def test_logs_after_exit(target):
    d, image = target
    cid = create(d, image, ["sh", "-c", "echo a; echo b >&2"])
    start(d, cid)
    wait_exit(d, cid)
    ws = connect(d, cid, "logs=1&stdout=1&stderr=1")
    got = receive(ws)
    assert lines(got.data) == [b"a\n", b"b\n"]  # dockerd's log may hold them either way
    assert got.opcodes == {websocket.ABNF.OPCODE_BINARY}
    assert_closed_by_server(got)


def test_before_1_42_every_stream_is_attached(target):
    d, image = target
    cid = create(d, image, ["sh", "-c", "echo a; echo b >&2"])
    start(d, cid)
    wait_exit(d, cid)
    got = receive(connect(d, cid, "logs=1&stdout=1"))
    assert lines(got.data) == [b"a\n", b"b\n"]  # stderr too, though only stdout was asked
    assert_closed_by_server(got)


def test_logs_then_live_output_while_running(target):
    d, image = target
    cid = create(d, image, ["sh", "-c", "echo a; echo b >&2; sleep 2; echo c"])
    start(d, cid)
    wait_until(lambda: d.raw("GET", f"{V}/containers/{cid}/logs?stdout=1&stderr=1").body
               .count(b"\n") >= 2, timeout=10, what="the first lines in the log")
    ws = connect(d, cid, "logs=1&stream=1&stdout=1&stderr=1")
    got = receive(ws)
    # The log, then the live line.
    assert lines(got.data[:4]) == [b"a\n", b"b\n"] and got.data[4:] == b"c\n"
    assert_closed_by_server(got)


def test_tty_output_is_raw(target):
    d, image = target
    cid = create(d, image, ["sh", "-c", "echo a; echo b >&2"], Tty=True)
    ws = connect(d, cid, "stream=1&stdout=1&stderr=1")
    start(d, cid)
    got = receive(ws)
    assert lines(got.data) == [b"a\r\n", b"b\r\n"]
    assert_closed_by_server(got)


def test_text_messages_before_api_1_28(target):
    d, image = target
    cid = create(d, image, ["sh", "-c", "echo a"])
    start(d, cid)
    wait_exit(d, cid)
    got = receive(connect(d, cid, "logs=1&stdout=1", version="/v1.27"))
    assert got.data == b"a\n"
    assert got.opcodes == {websocket.ABNF.OPCODE_TEXT}


def test_detach_keys_end_the_attach_on_a_tty(target):
    d, image = target
    cid = create(d, image, ["cat"], OpenStdin=True, Tty=True)
    start(d, cid)
    ws = connect(d, cid, "stream=1&stdin=1&stdout=1&detachKeys=ctrl-x")
    ws.send("x\n")
    receive(ws, until=b"x\r\n")
    ws.send("\x18")
    assert_closed_by_server(receive(ws))
    assert running(d, cid)


def test_detach_keys_pass_through_without_a_tty(target):
    d, image = target
    cid = create(d, image, ["cat"], OpenStdin=True)
    start(d, cid)
    ws = connect(d, cid, "stream=1&stdin=1&stdout=1&detachKeys=ctrl-x")
    try:
        ws.send("\x18y\n")
        assert receive(ws, until=b"y\n").data == b"\x18y\n"
    finally:
        ws.close()


def test_missing_container_is_404_before_the_upgrade(target):
    d, _ = target
    r = d.raw("GET", f"{V}/containers/no-such-thing/attach/ws?stream=1&stdout=1",
              headers=HANDSHAKE)
    assert r.status == 404, r
    assert r.json()["message"] == "No such container: no-such-thing"
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        connect(d, "no-such-thing", "stream=1&stdout=1")
    assert e.value.status_code == 404


def test_plain_request_is_400(target):
    d, image = target
    cid = create(d, image, ["true"])
    r = d.raw("GET", f"{V}/containers/{cid}/attach/ws?logs=1&stdout=1")
    assert r.status == 400, r
    assert b"not websocket protocol" in r.body


@pytest.mark.backends("memory", reason="API 1.42 behaviour; the harness's dockerd speaks 1.41")
def test_streams_are_chosen_from_api_1_42(sockerlessd, pair):
    """dockerd 20.10 predates this; its source (moby 23+) reads stdin/stdout/stderr."""
    d, image = sockerlessd, pair["image"]
    cid = create(d, image, ["sh", "-c", "echo a; echo b >&2"])
    start(d, cid)
    wait_exit(d, cid)
    try:
        got = receive(connect(d, cid, "logs=1&stdout=1", version="/v1.44"))
        assert got.data == b"a\n"
        got = receive(connect(d, cid, "logs=1&stderr=1", version="/v1.44"))
        assert got.data == b"b\n"
        assert_closed_by_server(got)
    finally:
        d.raw("DELETE", f"{V}/containers/{cid}?force=1")


@pytest.mark.parametrize("secure", [False, True], ids=["tcp", "tls"])
def test_over_tcp_and_tls(sockerlessd_factory, registry, tls_files, secure):
    """The upgrade works on every kind of listener sockerless has."""
    port = free_tcp_port()
    d = sockerlessd_factory.start("-H", f"tcp://127.0.0.1:{port}",
                                  *(tls_files.server_args() if secure else []))
    image = f"{registry.host}/busybox:latest"
    assert d.docker("pull", "-q", image, timeout=60).returncode == 0
    cid = create(d, image, ["sh", "-c", "read line; echo got $line; echo bye >&2"],
                 OpenStdin=True)
    start(d, cid)
    path = f"{V}/containers/{cid}/attach/ws?stream=1&stdin=1&stdout=1&stderr=1"
    if secure:
        ws = websocket.create_connection(
            f"wss://127.0.0.1:{port}{path}", timeout=15,
            sslopt={"ca_certs": tls_files.ca, "certfile": tls_files.client_cert,
                    "keyfile": tls_files.client_key})
    else:
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=15)
    ws.send("it\n")
    got = receive(ws)
    assert lines(got.data) == [b"bye\n", b"got it\n"]
    assert_closed_by_server(got)

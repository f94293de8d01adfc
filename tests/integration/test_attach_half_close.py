"""An attach without stdin whose client half-closes its connection before the start.

The docker CLI shuts the write side of the hijacked connection as soon as it has no stdin to
send (`docker run` without -i does it right after the attach, before it asks for the start)
and still reads the output. Found by the client smoke test: the first start of a big image
(its layer unpacked on first use) outlasted the attach's wait for the start, which took the
half-close for the client leaving, and `docker run` printed nothing.
"""

from __future__ import annotations

import socket
import struct
import time

V = "/v1.41"


def hijack(sock_path: str, path: str) -> tuple[socket.socket, bytes]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(sock_path)
    s.sendall((f"POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n"
               "Upgrade: tcp\r\nContent-Length: 0\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        assert chunk, f"connection closed before the answer: {buf!r}"
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    assert head.split(b" ", 2)[1] == b"101", head
    return s, rest


def demux(data: bytes) -> dict[int, bytes]:
    out: dict[int, bytes] = {1: b"", 2: b""}
    while len(data) >= 8:
        kind, size = struct.unpack(">BxxxI", data[:8])
        out[kind] = out.get(kind, b"") + data[8:8 + size]
        data = data[8 + size:]
    assert not data, f"truncated frame: {data!r}"
    return out


def test_half_closed_attach_still_gets_the_output(target):
    d, image = target
    r = d.docker("create", image, "sh", "-c", "echo out; echo err >&2")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    s, got = hijack(d.sock, f"{V}/containers/{cid}/attach?stream=1&stdout=1&stderr=1")
    try:
        s.shutdown(socket.SHUT_WR)  # what the CLI does without stdin
        time.sleep(1)  # a start that takes a while (a big image's first)
        r = d.docker("start", cid)
        assert r.returncode == 0, r.stderr
        while chunk := s.recv(65536):
            got += chunk
    finally:
        s.close()
    assert demux(got) == {1: b"out\n", 2: b"err\n"}
    r = d.docker("wait", cid)
    assert r.stdout.strip() == "0", r

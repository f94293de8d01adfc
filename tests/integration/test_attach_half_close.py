"""An attach without stdin whose client half-closes its connection before the start.

The docker CLI shuts the write side of the hijacked connection as soon as it has no stdin to
send (`docker run` without -i does it right after the attach, before it asks for the start)
and still reads the output. Found by the client smoke test: the first start of a big image
(its layer unpacked on first use) outlasted the attach's wait for the start, which took the
half-close for the client leaving, and `docker run` printed nothing.
"""

from __future__ import annotations

import socket
import time

from harness import demux, hijack

V = "/v1.41"


def test_half_closed_attach_still_gets_the_output(target):
    d, image = target
    r = d.docker("create", image, "sh", "-c", "echo out; echo err >&2")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    s, status, _, got = hijack(d.sock, f"{V}/containers/{cid}/attach?stream=1&stdout=1&stderr=1")
    assert status == 101, status
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

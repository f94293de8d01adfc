"""GET /events: bounded queries, filters, streaming, and the SIGHUP `daemon reload` event.

dockerd 20.10 on SIGHUP emits (docker events --format '{{json .}}'):
  {"Type":"daemon","Action":"reload","Actor":{"ID":"<info.ID>","Attributes":{
     "allow-nondistributable-artifacts":"[]", ..., "name":"<info.Name>", ...,
     "shutdown-timeout":"15"}},"scope":"local","time":1795341299,"timeNano":1795341299493504875}
"""

from __future__ import annotations

import json
import os
import queue
import selectors
import subprocess
import threading
import time
import urllib.parse

import pytest

from harness import DOCKER_CLI, cli_env, json_lines, wait_until

PROMPT = 5.0  # seconds a bounded (until in the past) query may take


def _is_reload(ev: dict) -> bool:
    return ev.get("Type") == "daemon" and ev.get("Action") == "reload"


def _cli_events(d, *args):
    start = time.monotonic()
    r = d.docker("events", *args, "--format", "{{json .}}", timeout=20)
    elapsed = time.monotonic() - start
    assert r.returncode == 0, r.stderr
    assert elapsed < PROMPT, f"docker events with --until in the past took {elapsed:.1f}s"
    return json_lines(r.stdout)


def _hup_and_find_reload(d):
    """SIGHUP the daemon, then poll bounded `docker events` until the reload shows up.
    Returns (since, until, event)."""
    since = int(time.time())
    sent_ns = time.time_ns()
    d.reload()
    deadline = time.monotonic() + 8
    while True:
        time.sleep(0.3)
        until = int(time.time())  # never in the future: the query must terminate
        evs = _cli_events(d, "--since", str(since), "--until", str(until))
        # (an earlier SIGHUP may fall into the same second: look only at ours)
        found = [e for e in evs if _is_reload(e) and e.get("timeNano", 0) >= sent_ns]
        if found:
            assert len(found) == 1, found
            return since, until, found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no daemon reload event after SIGHUP; got {evs}")


_RELOADS: dict = {}  # one SIGHUP per daemon instance serves all the read-only tests


@pytest.fixture
def reload_event(engine):
    key = (id(engine), engine.pid)
    if key not in _RELOADS:
        _RELOADS[key] = (engine, *_hup_and_find_reload(engine))
    return _RELOADS[key]


def test_bounded_events_return_promptly(engine):
    now = int(time.time())
    _cli_events(engine, "--since", str(now - 60), "--until", str(now - 1))


def test_sighup_emits_daemon_reload(reload_event):
    d, since, until, ev = reload_event
    info = d.raw("GET", "/info").json()
    assert ev["Actor"]["ID"] == info["ID"], ev
    attrs = ev["Actor"]["Attributes"]
    assert isinstance(attrs, dict) and attrs, ev
    assert attrs.get("name") == info["Name"], attrs
    assert ev["scope"] == "local", ev
    assert isinstance(ev["time"], int) and isinstance(ev["timeNano"], int), ev
    assert ev["timeNano"] // 10**9 == ev["time"], ev
    assert since <= ev["time"] <= until, (since, until, ev)


def test_event_filters(reload_event):
    d, since, until, _ = reload_event
    b = ["--since", str(since), "--until", str(until)]
    container_only = _cli_events(d, *b, "--filter", "type=container")
    assert all(e.get("Type") == "container" for e in container_only), container_only
    assert any(_is_reload(e) for e in _cli_events(d, *b, "--filter", "type=daemon"))
    assert any(_is_reload(e) for e in _cli_events(d, *b, "--filter", "event=reload"))
    assert not any(_is_reload(e) for e in _cli_events(d, *b, "--filter", "event=start"))


def test_relative_since_until(reload_event):
    """`--since 60s --until 0s`: the CLI sends seconds.nanoseconds timestamps."""
    d = reload_event[0]
    evs = _cli_events(d, "--since", "60s", "--until", "0s")
    assert any(_is_reload(e) for e in evs), evs


def test_raw_events_api(reload_event):
    d, since, until, _ = reload_event
    r = d.raw("GET", f"/events?since={since}&until={until}")
    assert r.status == 200, r
    assert r.content_type.startswith("application/json"), r
    evs = json_lines(r.text)
    assert any(_is_reload(e) for e in evs), evs
    flt = urllib.parse.quote(json.dumps({"type": ["container"]}))
    r = d.raw("GET", f"/events?since={since}&until={until}&filters={flt}")
    assert r.status == 200, r
    assert not any(_is_reload(e) for e in json_lines(r.text))


def test_reload_event_shape_matches_dockerd(sockerlessd, dockerd):
    _, _, ours = _hup_and_find_reload(sockerlessd)
    _, _, ref = _hup_and_find_reload(dockerd)
    assert set(ref) <= set(ours), (sorted(ours), sorted(ref))
    assert set(ref["Actor"]) <= set(ours["Actor"]), (ours["Actor"], ref["Actor"])
    common = set(ours["Actor"]["Attributes"]) & set(ref["Actor"]["Attributes"])
    assert "name" in common, (sorted(ours["Actor"]["Attributes"]),
                              sorted(ref["Actor"]["Attributes"]))


def test_streaming_events_sdk(engine):
    c = engine.client()
    q: queue.Queue = queue.Queue()
    ready = threading.Event()
    holder: dict = {}

    def pump():
        try:
            stream = c.events(decode=True, filters={"type": "daemon"})
            holder["stream"] = stream
            ready.set()
            for ev in stream:
                q.put(ev)
        except Exception as e:  # closing the stream ends iteration with an error
            holder.setdefault("error", e)
            ready.set()

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    try:
        assert ready.wait(5), "GET /events (streaming) sent no response headers within 5s"
        assert "stream" in holder, holder.get("error")
        wait_until(lambda: engine.raw("GET", "/info").json()["NEventsListener"] >= 1,
                   timeout=3, what="NEventsListener >= 1 while a stream is open")
        sent = time.monotonic()
        engine.reload()
        while True:
            left = 5 - (time.monotonic() - sent)
            assert left > 0, "reload event did not arrive on the open stream within 5s"
            try:
                ev = q.get(timeout=left)
            except queue.Empty:
                continue
            if _is_reload(ev):
                break
    finally:
        if "stream" in holder:
            holder["stream"].close()
        t.join(5)
    assert not t.is_alive(), "event stream did not end after close()"


def _listeners(d) -> int:
    return d.raw("GET", "/info").json()["NEventsListener"]


def test_closed_stream_unsubscribes(engine):
    """NEventsListener counts open /events streams and drops when a client goes away
    (dockerd: immediately; allowed here: 2 s)."""
    wait_until(lambda: _listeners(engine) == 0, timeout=3, what="no open event streams")
    c = engine.client()
    stream = c.events(decode=True)
    try:
        wait_until(lambda: _listeners(engine) == 1, timeout=3, what="NEventsListener == 1")
    finally:
        stream.close()
    wait_until(lambda: _listeners(engine) == 0, timeout=2,
               what="NEventsListener back to 0 after the client closed its stream")


def test_streaming_events_cli(engine):
    # This test uses NEventsListener to know when the CLI has subscribed, so start
    # from a quiescent daemon (earlier tests' streams may take a moment to be reaped).
    wait_until(lambda: _listeners(engine) == 0, timeout=3, what="no open event streams")
    p = subprocess.Popen(
        [DOCKER_CLI, "-H", engine.host, "events", "--format", "{{json .}}",
         "--filter", "type=daemon"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=cli_env(engine.docker_config),
    )
    try:
        wait_until(lambda: p.poll() is not None or _listeners(engine) >= 1,
                   timeout=5, what="docker events to subscribe")
        assert p.poll() is None, p.stderr.read().decode()
        engine.reload()
        sel = selectors.DefaultSelector()
        sel.register(p.stdout, selectors.EVENT_READ)
        buf = b""
        deadline = time.monotonic() + 5
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no reload event from `docker events` within 5s: {buf!r}"
            if sel.select(left):
                chunk = os.read(p.stdout.fileno(), 65536)
                assert chunk, f"docker events exited: {p.stderr.read().decode()}"
                buf += chunk
                lines = buf.split(b"\n")
                if any(_is_reload(json.loads(ln)) for ln in lines[:-1] if ln.strip()):
                    break
    finally:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()

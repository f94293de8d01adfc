"""sockerlessd process behaviour: socket, signals, locking, metrics, logging, config."""

from __future__ import annotations

import json
import os
import re
import signal
import stat

import pytest

from harness import free_tcp_port, tcp_request, unix_request, wait_until

DEBUG_WORD = re.compile(r"(?i)\bdebug\b")


def _poke(d, n: int = 5) -> None:
    for _ in range(n):
        assert d.raw("GET", "/_ping").status == 200
    assert d.raw("GET", "/version").status == 200
    assert d.raw("GET", "/nope").status == 404


# ------------------------------------------------------------------------ socket


def test_unix_socket_mode_0660(sockerlessd_factory):
    d = sockerlessd_factory.start()
    st = os.stat(d.sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660, oct(stat.S_IMODE(st.st_mode))


def test_sigterm_exits_zero_and_removes_socket(sockerlessd_factory):
    d = sockerlessd_factory.start()
    d.signal(signal.SIGTERM)
    rc = d.proc.wait(10)
    assert rc == 0, d.log_tail()
    assert not os.path.exists(d.sock), "socket file left behind after SIGTERM"


def test_restart_on_same_data_root_after_sigterm(sockerlessd_factory):
    d1 = sockerlessd_factory.start()
    info1 = d1.raw("GET", "/info").json()
    assert d1.stop() == 0, d1.log_tail()
    d2 = sockerlessd_factory.start(tmp=d1.tmp)  # same socket path, same data root
    info2 = d2.raw("GET", "/info").json()
    assert info2["ID"] == info1["ID"], "daemon ID must persist in the data root"


def test_restart_after_sigkill_replaces_stale_socket(sockerlessd_factory):
    d1 = sockerlessd_factory.start()
    d1.stop(sig=signal.SIGKILL)
    d2 = sockerlessd_factory.start(tmp=d1.tmp)  # stale socket file + released lock
    assert d2.raw("GET", "/_ping").status == 200


def test_second_daemon_same_socket_refused(sockerlessd_factory):
    d1 = sockerlessd_factory.start()
    other_root = os.path.join(sockerlessd_factory.new_tmp(), "data")
    d2 = sockerlessd_factory.start(sock=d1.sock, data_root=other_root, wait=False)
    rc = d2.proc.wait(10)
    assert rc != 0, "second daemon on an in-use socket must refuse to start"
    assert d1.sock in d2.stderr_text(), d2.stderr_text()
    # The first daemon keeps its socket and keeps serving.
    assert os.path.exists(d1.sock)
    assert d1.raw("GET", "/_ping").status == 200


def test_second_daemon_same_data_root_refused(sockerlessd_factory):
    d1 = sockerlessd_factory.start()
    d2 = sockerlessd_factory.start(data_root=d1.data_root, wait=False)
    rc = d2.proc.wait(10)
    assert rc != 0, "second daemon on an in-use data root must refuse to start"
    err = d2.stderr_text()
    assert d1.data_root in err or re.search(r"(?i)data[ -]root", err), err
    assert not os.path.exists(d2.sock), "refused daemon left its socket behind"
    assert d1.raw("GET", "/_ping").status == 200


# ----------------------------------------------------------------------- metrics

_METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_METRIC_LINE = re.compile(
    rf"^(?P<name>{_METRIC_NAME})"
    r"(?P<labels>\{(\s*[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\]|\\.)*\"\s*,?)*\})?"
    r" (?P<value>[-+]?([0-9.]+([eE][-+]?[0-9]+)?|NaN|Inf))"
    r"( -?[0-9]+)?$"
)


def _parse_prometheus(text: str) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            if line.startswith("# TYPE "):
                assert re.match(rf"^# TYPE {_METRIC_NAME} "
                                r"(counter|gauge|histogram|summary|untyped)$", line), line
            continue
        m = _METRIC_LINE.match(line)
        assert m, f"not Prometheus text exposition format: {line!r}"
        samples.setdefault(m["name"], []).append(float(m["value"]))
    return samples


def _try_metrics(port):
    try:
        return tcp_request("127.0.0.1", port, "GET", "/metrics", timeout=2)
    except OSError:
        return None


def test_metrics_endpoint(sockerlessd_factory):
    port = free_tcp_port()
    d = sockerlessd_factory.start("--metrics-addr", f"127.0.0.1:{port}")
    _poke(d)  # 7 API requests
    r = wait_until(lambda: _try_metrics(port), timeout=5, what="GET /metrics")
    assert r.status == 200, r
    assert r.content_type.startswith("text/plain"), r
    samples = _parse_prometheus(r.text)
    assert "sockerless_http_requests_total" in samples, sorted(samples)
    assert "# TYPE sockerless_http_requests_total counter" in r.text
    assert sum(samples["sockerless_http_requests_total"]) >= 7, samples


# ----------------------------------------------------------------------- logging


def test_log_format_json(sockerlessd_factory):
    d = sockerlessd_factory.start("--log-format", "json")
    _poke(d)
    assert d.stop() == 0
    lines = [ln for ln in d.stderr_text().splitlines() if ln.strip()]
    assert lines, "no log output at --log-level debug"
    for ln in lines:
        try:
            obj = json.loads(ln)
        except ValueError:
            pytest.fail(f"stderr line is not JSON: {ln!r}")
        assert isinstance(obj, dict), ln


def test_log_level_debug_logs_debug(sockerlessd_factory):
    d = sockerlessd_factory.start()  # fixture default: --log-level debug
    _poke(d)
    d.stop()
    assert DEBUG_WORD.search(d.stderr_text()), d.stderr_text()[-2000:]


# ------------------------------------------------------------------------ config


def test_config_file_honoured_and_flags_override(sockerlessd_factory):
    tmp = sockerlessd_factory.new_tmp()
    cfg_sock = os.path.join(tmp, "from-config.sock")
    flag_sock = os.path.join(tmp, "from-flag.sock")
    cfg = os.path.join(tmp, "daemon.yaml")
    with open(cfg, "w") as f:
        f.write(f"log-level: debug\nhosts:\n  - unix://{cfg_sock}\n")

    # 1. Config file only: listens where the config says, logs at debug.
    d1 = sockerlessd_factory.start("--config-file", cfg, sock=None, log_level=None,
                                   data_root=os.path.join(tmp, "data1"),
                                   ready_sock=cfg_sock, tmp=tmp)
    _poke(d1)
    assert d1.stop() == 0, d1.log_tail()
    assert DEBUG_WORD.search(d1.stderr_text()), "config log-level: debug not honoured"

    # 2. Flags win over the file: -H and --log-level override hosts and log-level.
    d2 = sockerlessd_factory.start("--config-file", cfg, sock=flag_sock, log_level="info",
                                   data_root=os.path.join(tmp, "data2"), tmp=tmp)
    _poke(d2)
    assert not os.path.exists(cfg_sock), "config hosts used although -H was given"
    assert d2.stop() == 0, d2.log_tail()
    assert not DEBUG_WORD.search(d2.stderr_text()), d2.stderr_text()[-2000:]


def test_env_data_root(sockerlessd_factory):
    tmp = sockerlessd_factory.new_tmp()
    root = os.path.join(tmp, "env-root")
    d = sockerlessd_factory.start(data_root=None, env={"SOCKERLESS_DATA_ROOT": root},
                                  sock=os.path.join(tmp, "env.sock"), tmp=tmp)
    assert d.raw("GET", "/_ping").status == 200
    assert os.path.isdir(root) and os.listdir(root), "SOCKERLESS_DATA_ROOT not used"


def test_data_root_flag_overrides_env(sockerlessd_factory):
    tmp = sockerlessd_factory.new_tmp()
    env_root = os.path.join(tmp, "env-root")
    flag_root = os.path.join(tmp, "flag-root")
    d = sockerlessd_factory.start(data_root=flag_root, env={"SOCKERLESS_DATA_ROOT": env_root},
                                  sock=os.path.join(tmp, "flag.sock"), tmp=tmp)
    assert d.raw("GET", "/_ping").status == 200
    assert os.path.isdir(flag_root) and os.listdir(flag_root), "--data-root not used"
    assert not os.path.exists(env_root) or not os.listdir(env_root), \
        "SOCKERLESS_DATA_ROOT used although --data-root was given"


@pytest.mark.backends("memory", reason="the daemon ID is the engine's")
def test_second_daemon_different_socket_and_root_coexist(sockerlessd_factory):
    d1 = sockerlessd_factory.start()
    d2 = sockerlessd_factory.start()
    i1 = unix_request(d1.sock, "GET", "/info").json()
    i2 = unix_request(d2.sock, "GET", "/info").json()
    assert i1["ID"] != i2["ID"], "each data root has its own daemon ID"
    assert os.listdir(d1.data_root) and os.listdir(d2.data_root)

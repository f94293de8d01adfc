"""Testcontainers against sockerless, on the backend under test (SOCKERLESS_TEST_BACKEND):
Python (testcontainers 4.15.0, in this process), Go (testcontainers-go v0.45.0, the tests of
tests/clients/go run by `go test`) and Node (testcontainers 12.2.0 under bun).

Each does a generic container with a log wait strategy, exec (output and exit code), copying
files in and out, a published port waited for and reached from the host, and a network on
which one container reaches another by its aliases. (Node: node/testcontainers_scenario.js,
one `bun -e` per part.)

The reaper (Ryuk) is disabled (TESTCONTAINERS_RYUK_DISABLED=true): its image,
testcontainers/ryuk, cannot be had offline. What Ryuk needs from the daemon is tested
instead: a container with the daemon's socket mounted (`-v <socket>:/var/run/docker.sock`)
talks to the daemon from inside, finds the session's containers by their label and removes
them, as Ryuk does when its client goes.

How the tools find the daemon and the mapped ports (README: Test clients):
  DOCKER_HOST=unix://<socket>
  Python: TESTCONTAINERS_CONNECTION_MODE=docker_host when the tests themselves run inside a
          container (this machine has /.dockerenv; otherwise it would look for a gateway)
  Go, Node: TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 for the same reason

    .venv/bin/pytest tests/clients/test_testcontainers.py -q
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from harness import BACKEND

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="bridge networks need root")

HERE = Path(__file__).resolve().parent
GET = r"printf 'GET /index.html HTTP/1.0\r\n\r\n' | nc {host} 8080"


@pytest.fixture
def tc(sockerlessd, monkeypatch):
    """Python Testcontainers pointed at this module's sockerlessd, reaper off."""
    from testcontainers.core.config import ConnectionMode
    from testcontainers.core.config import testcontainers_config as config

    for k in [k for k in os.environ if k.startswith("DOCKER_")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("DOCKER_HOST", sockerlessd.host)
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    # The config reads these at import: set them on it as the variables would have.
    monkeypatch.setattr(config, "ryuk_disabled", True)
    monkeypatch.setattr(config, "connection_mode_override", ConnectionMode.docker_host)
    monkeypatch.setattr(config, "tc_host_override", None)
    return sockerlessd


@pytest.fixture(scope="module")
def busybox_ref(registry):
    return f"{registry.host}/busybox:latest"


def exists(daemon, container_id: str) -> bool:
    return daemon.docker("inspect", container_id).returncode == 0


# ---------------------------------------------------------------------------- Python


@pytest.mark.timeout(120)
def test_python_generic_container(tc, busybox_ref, tmp_path):
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    c = (DockerContainer(busybox_ref)
         .with_command(["sh", "-c", "trap 'exit 0' TERM; echo starting; sleep 1; "
                       "echo ready-for-tests; while :; do sleep 1 & wait $!; done"])
         .with_env("GREETING", "hello-from-python")
         .with_copy_into_container(b"copied before start\n", "/tmp/in/before.txt")
         .waiting_for(LogMessageWaitStrategy("ready-for-tests").with_startup_timeout(30)))
    with c:
        cid = c.get_container_id()
        out, err = c.get_logs()
        assert out.decode() == "starting\nready-for-tests\n" and err == b"", (out, err)
        c.reload()
        assert c.status == "running"

        r = c.exec(["sh", "-c", 'cat /tmp/in/before.txt; echo "$GREETING"'])
        assert (r.exit_code, r.output) == (0, b"copied before start\nhello-from-python\n"), r
        r = c.exec(["sh", "-c", "echo to-stderr >&2; exit 4"])
        assert r.exit_code == 4 and b"to-stderr" in r.output, r

        c.copy_into_container(b"\x00\x01binary\xff", "/tmp/later/data.bin", mode=0o600)
        r = c.exec(["sh", "-c", "stat -c '%a %s' /tmp/later/data.bin"])
        assert r.output == b"600 9\n", r
        c.copy_from_container("/tmp/later/data.bin", tmp_path / "back.bin")
        assert (tmp_path / "back.bin").read_bytes() == b"\x00\x01binary\xff"
        c.copy_from_container("/etc/hostname", tmp_path / "hostname")
        assert (tmp_path / "hostname").read_text() == cid[:12] + "\n"

        labels = c.get_wrapped_container().labels
        assert labels["org.testcontainers.lang"] == "python", labels
    assert not exists(tc, cid), "the container outlived its `with` block"


@pytest.mark.timeout(120)
def test_python_port_wait(tc, busybox_ref):
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import PortWaitStrategy

    c = (DockerContainer(busybox_ref)
         .with_command(["sh", "-c", "mkdir /www && echo served-by-busybox > /www/index.html && "
                       "exec httpd -f -p 8080 -h /www"])
         .with_exposed_ports(8080)
         .waiting_for(PortWaitStrategy(8080).with_startup_timeout(30)))
    with c:
        c.reload()
        host, port = c.get_container_host_ip(), c.get_exposed_port(8080)
        assert host == "localhost" and port != 8080, (host, port)
        assert http_get(f"http://{host}:{port}/index.html") == "served-by-busybox\n"
        ports = c.get_wrapped_container().attrs["NetworkSettings"]["Ports"]["8080/tcp"]
        assert str(port) in {p["HostPort"] for p in ports}, ports


def http_get(url: str, within: float = 10) -> str:
    """GET, retried while the connection is refused or dropped: a published port may accept
    before the server in the container listens (docker-proxy does the same)."""
    deadline = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.read().decode()
        except (ConnectionError, urllib.error.URLError) as e:
            if time.monotonic() > deadline:
                raise AssertionError(f"GET {url}: {e!r}") from e
            time.sleep(0.2)


@pytest.mark.timeout(120)
def test_python_network_aliases(tc, busybox_ref):
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.network import Network
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    with Network() as net:
        server = (DockerContainer(busybox_ref)
                  .with_network(net).with_network_aliases("web", "www.internal")
                  .with_command(["sh", "-c", "trap 'exit 0' TERM; mkdir /www; echo hello-by-alias > /www/index.html; "
                                "httpd -p 8080 -h /www && echo serving; while :; do sleep 1 & wait $!; done"])
                  .waiting_for(LogMessageWaitStrategy("serving")))
        client = (DockerContainer(busybox_ref).with_network(net)
                  .with_command(["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"]))
        with server, client:
            for alias in ("web", "www.internal"):
                r = client.exec(["sh", "-c", GET.format(host=alias)])
                assert r.exit_code == 0 and r.output.endswith(b"\r\n\r\nhello-by-alias\n"), (alias, r)
            server.reload()
            aliases = server.get_wrapped_container().attrs["NetworkSettings"]["Networks"][net.name]["Aliases"]
            assert {"web", "www.internal"} <= set(aliases), aliases
            net_id = net.id
        assert exists(tc, net_id), "the network went before its `with` block ended"
    assert tc.docker("network", "inspect", net_id).returncode != 0, "the network outlived its block"


# ------------------------------------------------------------- the reaper's daemon socket


RYUK_LIKE = r"""
set -e
api() { curl -sS --fail-with-body --unix-socket /var/run/docker.sock "$@"; }
echo "ping=$(api http://x/_ping)"
ids=$(api -G --data-urlencode all=1 \
          --data-urlencode "filters={\"label\":[\"org.testcontainers.session-id=$SESSION\"]}" \
          http://x/containers/json | grep -o '"Id": *"[0-9a-f]*"' | grep -o '[0-9a-f]\{64\}')
for id in $ids; do
  case $id in "$HOSTNAME"*) echo found-self; continue;; esac
  api -X DELETE -o /dev/null -w "removed=%{http_code}\n" "http://x/containers/$id?force=1&v=1"
done
echo done
"""


@pytest.mark.timeout(180)
def test_daemon_socket_in_a_container(tc, busybox_ref, debian_image):
    """What Ryuk does, done with curl: a container with the daemon's socket mounted lists the
    session's containers by label and removes them."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.labels import SESSION_ID

    victim = (DockerContainer(busybox_ref)
              .with_command(["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"]))
    victim.start()
    try:
        reaper = (DockerContainer(debian_image.ref)
                  .with_volume_mapping(tc.sock, "/var/run/docker.sock", "rw")
                  .with_env("SESSION", SESSION_ID)
                  .with_command(["bash", "-c", RYUK_LIKE]))
        with reaper:
            code = reaper.wait()
            out, err = reaper.get_logs()
        assert code == 0, (out, err)
        lines = out.decode().splitlines()
        assert lines[0] == "ping=OK" and lines[-1] == "done", lines
        # It found the session's containers (the victim, and itself) and removed the victim.
        assert lines[1:-1] == ["found-self", "removed=204"] or lines[1:-1] == ["removed=204", "found-self"], lines
        assert not exists(tc, victim.get_container_id()), "the socket's client did not remove it"
    finally:
        if exists(tc, victim.get_container_id()):
            victim.stop()


# -------------------------------------------------------------------------------- Go


GO_TESTS = ["TestGenericContainer", "TestPortWait", "TestNetworkAliases", "TestDaemonSocket"]


@pytest.mark.timeout(600)
def test_go(sockerlessd, busybox_ref, debian_image, tools):
    if not (go := shutil.which("go")):
        pytest.skip("go not found")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "TESTCONTAINERS_"))}
    env.update({
        "DOCKER_HOST": sockerlessd.host,
        "TESTCONTAINERS_RYUK_DISABLED": "true",
        "TESTCONTAINERS_HOST_OVERRIDE": "127.0.0.1",
        "SOCKERLESS_TEST_DOCKER_HOST": sockerlessd.host,
        "SOCKERLESS_TEST_BUSYBOX": busybox_ref,
        "SOCKERLESS_TEST_DEBIAN": debian_image.ref,
        # Offline: the pinned modules are in the module cache (scripts/install-clients.sh).
        "GOPROXY": "off",
        "GOFLAGS": "-mod=mod -buildvcs=false",
    })
    r = subprocess.run([go, "test", "-count=1", "-v", "-run", f"^({'|'.join(GO_TESTS)})$", "."],
                       cwd=tools.go_dir, env=env, capture_output=True, text=True, timeout=590)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    for name in GO_TESTS:
        assert re.search(rf"^--- PASS: {name} ", r.stdout, re.M), f"{name} did not pass:\n{out[-6000:]}"
    assert "--- SKIP" not in r.stdout, out[-6000:]
    assert_clean(sockerlessd)


def assert_clean(daemon) -> None:
    """What the suite created is gone again (without a reaper: the tests' own cleanup)."""
    assert daemon.docker("ps", "-aq").stdout.split() == []
    nets = daemon.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert set(nets) - {"bridge", "host", "none"} == set(), nets


# ------------------------------------------------------------------------------ Node


def run_node(sockerlessd, busybox_ref, tools, part: str) -> subprocess.CompletedProcess:
    """node/testcontainers_scenario.js's `part`, under bun, against `sockerlessd`."""
    script = (HERE / "node" / "testcontainers_scenario.js").read_text()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "TESTCONTAINERS_"))}
    env.update({
        "DOCKER_HOST": sockerlessd.host,
        "TESTCONTAINERS_RYUK_DISABLED": "true",
        "TESTCONTAINERS_HOST_OVERRIDE": "127.0.0.1",
        "SOCKERLESS_TEST_BUSYBOX": busybox_ref,
    })
    # `bun -e` from the directory holding node_modules, so `require('testcontainers')` resolves.
    return subprocess.run(tools.bun + ["-e", script, part], cwd=tools.node_modules.parent, env=env,
                          capture_output=True, text=True, timeout=280)


@pytest.mark.parametrize("part, steps", [
    ("generic", ["log wait", "exec", "copy"]),
    ("port", ["port"]),
    ("network", ["network aliases"]),
])
@pytest.mark.timeout(300)
def test_node(sockerlessd, busybox_ref, tools, part, steps):
    r = run_node(sockerlessd, busybox_ref, tools, part)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    done = [l.removeprefix("ok ") for l in r.stdout.splitlines() if l.startswith("ok ")]
    assert done == steps + ["stopped"], out[-6000:]
    assert_clean(sockerlessd)

"""Testcontainers against sockerless, on the backend under test (SOCKERLESS_TEST_BACKEND):
Python (testcontainers 4.15.0, in this process), Go (testcontainers-go v0.45.0, the tests of
tests/clients/go run by `go test`) and Node (testcontainers 12.2.0 under bun).

Each does a generic container with a log wait strategy, exec (output and exit code), copying
files in and out, a published port waited for and reached from the host, and a network on
which one container reaches another by its aliases. (Node: node/testcontainers_scenario.js,
one `bun -e` per part.)

The reaper (Ryuk) is on, as the libraries have it by default: its image, testcontainers/ryuk,
cannot be had offline, so the harness's Docker Hub mirror serves a stand-in under the names
each library asks for (testcontainers/ryuk:0.8.1 for Python, :0.14.0 for Go and Node): our
own program, tests/fixtures/reaper.js, speaking Ryuk's protocol. Each library starts it with
the daemon's socket mounted (`-v <the DOCKER_HOST socket>:/var/run/docker.sock`) and a
published port 8080 it sends its session's filters to; once the library's process has gone,
the reaper removes what matches through that socket. Checked: the mount is the socket the
library asked for, and a container a session leaves running (its process ends without
stopping it) is gone shortly after, in each of the three. On the docker backend the mounted
socket is sockerlessd's, bound into a container of the engine underneath: that works because
the engine shares this host's filesystem (an engine elsewhere would need the socket path to
exist there). What the reaper needs from the daemon is also tested on its own
(test_daemon_socket_in_a_container: the socket's client lists and removes by label).

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
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="bridge networks need root")

HERE = Path(__file__).resolve().parent
GET = r"printf 'GET /index.html HTTP/1.0\r\n\r\n' | nc {host} 8080"
IDLE = "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"
REAPER_LABEL = "org.testcontainers.ryuk"  # on the reaper image (and Go's reaper container)


@pytest.fixture(scope="module")
def sockerlessd(request, hub_daemon):
    """sockerlessd on the backend under test, with the Docker Hub mirror: the libraries pull
    their reaper, testcontainers/ryuk, by its Docker Hub name."""
    with hub_daemon(request, "sockerlessd", "") as d:
        yield d


@pytest.fixture
def tc(sockerlessd, monkeypatch):
    """Python Testcontainers pointed at this module's sockerlessd, reaper on. At the end
    what Python does at exit (Reaper.delete_instance: disconnect, remove the reaper), so
    that no reaper outlives the test."""
    from testcontainers.core.config import ConnectionMode
    from testcontainers.core.config import testcontainers_config as config
    from testcontainers.core.container import Reaper

    for k in [k for k in os.environ if k.startswith(("DOCKER_", "TESTCONTAINERS_", "RYUK_"))]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("DOCKER_HOST", sockerlessd.host)
    # The config reads these at import: set them on it as the variables would have.
    monkeypatch.setattr(config, "ryuk_disabled", False)
    monkeypatch.setattr(config, "_ryuk_docker_socket", "")  # found again, from DOCKER_HOST
    monkeypatch.setattr(config, "connection_mode_override", ConnectionMode.docker_host)
    monkeypatch.setattr(config, "tc_host_override", None)
    Reaper.delete_instance()
    try:
        yield sockerlessd
    finally:
        Reaper.delete_instance()


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

        from testcontainers.core.labels import SESSION_ID
        reaper = running_reapers(tc)
        assert [r["Name"] for r in reaper] == [f"/testcontainers-ryuk-{SESSION_ID}"], reaper
        assert_mounts_the_socket(tc, reaper[0])
        assert labels["org.testcontainers.session-id"] == SESSION_ID, labels
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


# ------------------------------------------------------------------------ the reaper


def running_reapers(daemon) -> list[dict]:
    """Inspect documents of the running reaper containers (the image's label)."""
    ids = daemon.docker("ps", "-q", "--filter", f"label={REAPER_LABEL}=true").stdout.split()
    return json.loads(daemon.docker("inspect", *ids).stdout) if ids else []


def assert_mounts_the_socket(daemon, reaper: dict) -> None:
    """The reaper has the daemon's socket, the one DOCKER_HOST names, at /var/run/docker.sock."""
    mounts = [(m["Type"], m["Source"], m["Destination"]) for m in reaper["Mounts"]]
    assert ("bind", daemon.sock, "/var/run/docker.sock") in mounts, mounts


def assert_reaped(daemon, container_id: str, within: float = 60) -> None:
    """`container_id`, which its session left running, is removed by the reaper once the
    reconnection timeout (10 s) has passed, and the reaper is gone after it (it exits, and
    is removed: AutoRemove); nothing else is left."""
    deadline = time.monotonic() + within
    while daemon.docker("ps", "-aq").stdout.split():
        if time.monotonic() > deadline:
            left = daemon.docker("ps", "-a", "--format", "{{.ID}} {{.Image}} {{.Status}} {{.Labels}}").stdout
            logs = [daemon.docker("logs", r["Id"]).stdout for r in running_reapers(daemon)]
            raise AssertionError(f"not reaped within {within} s: {container_id}\n{left}\nreapers' logs: {logs}")
        time.sleep(0.5)
    assert_clean(daemon)


PYTHON_SESSION = """
import os, sys
from testcontainers.core.container import DockerContainer
from testcontainers.core.labels import SESSION_ID
c = DockerContainer(sys.argv[1]).with_command(["sh", "-c", sys.argv[2]]).start()
print(SESSION_ID, c.get_container_id(), flush=True)
os._exit(0)  # ends without stopping it, nor its reaper (atexit would)
"""


@pytest.mark.timeout(180)
def test_python_reaper_reaps(sockerlessd, busybox_ref):
    """A Python session that ends without stopping its container: its reaper removes it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "TESTCONTAINERS_", "RYUK_"))}
    env.update({"DOCKER_HOST": sockerlessd.host, "TESTCONTAINERS_CONNECTION_MODE": "docker_host"})
    r = subprocess.run([sys.executable, "-c", PYTHON_SESSION, busybox_ref, IDLE], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    session, cid = r.stdout.split()
    inspect = json.loads(sockerlessd.docker("inspect", cid).stdout)[0]
    assert inspect["State"]["Running"], "the container stopped with its session's process"
    assert inspect["Config"]["Labels"]["org.testcontainers.session-id"] == session
    reaper = running_reapers(sockerlessd)
    assert [x["Name"] for x in reaper] == [f"/testcontainers-ryuk-{session}"], reaper
    assert_mounts_the_socket(sockerlessd, reaper[0])
    assert_reaped(sockerlessd, cid)


# -------------------------------------------------------------------------------- Go


GO_TESTS = ["TestGenericContainer", "TestPortWait", "TestNetworkAliases", "TestReaperLeaves"]


@pytest.mark.timeout(600)
def test_go(sockerlessd, busybox_ref, tools, tmp_path):
    if not (go := shutil.which("go")):
        pytest.skip("go not found")
    left_file = tmp_path / "left"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "TESTCONTAINERS_", "RYUK_"))}
    env.update({
        "DOCKER_HOST": sockerlessd.host,
        "TESTCONTAINERS_HOST_OVERRIDE": "127.0.0.1",
        "SOCKERLESS_TEST_DOCKER_HOST": sockerlessd.host,
        "SOCKERLESS_TEST_BUSYBOX": busybox_ref,
        "SOCKERLESS_TEST_LEFT_FILE": str(left_file),
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
    # The test binary has exited: its reaper (one per session) waits out its reconnection
    # timeout, then removes what TestReaperLeaves left.
    left = left_file.read_text()
    assert exists(sockerlessd, left), "gone with the test process, before the reaper's timeout"
    reaper = running_reapers(sockerlessd)
    assert len(reaper) == 1 and reaper[0]["Name"].startswith("/reaper_"), reaper
    assert_mounts_the_socket(sockerlessd, reaper[0])
    assert_reaped(sockerlessd, left)


def assert_clean(daemon, but_reapers: bool = False) -> None:
    """What the suite created is gone again (the tests' own cleanup, or the reaper's);
    but_reapers: except reapers still waiting for their clients to come back."""
    ids = daemon.docker("ps", "-aq").stdout.split()
    if but_reapers:
        ids = set(ids) - {r["Id"][:12] for r in running_reapers(daemon)}
    assert list(ids) == []
    nets = daemon.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert set(nets) - {"bridge", "host", "none"} == set(), nets


# ------------------------------------------------------------------------------ Node


def run_node(sockerlessd, busybox_ref, tools, part: str) -> subprocess.CompletedProcess:
    """node/testcontainers_scenario.js's `part`, under bun, against `sockerlessd`."""
    script = (HERE / "node" / "testcontainers_scenario.js").read_text()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "TESTCONTAINERS_", "RYUK_"))}
    env.update({
        "DOCKER_HOST": sockerlessd.host,
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
    # Its reaper may still be waiting out its reconnection timeout (a later part reuses it).
    assert_clean(sockerlessd, but_reapers=True)


@pytest.mark.timeout(300)
def test_node_reaper_reaps(sockerlessd, busybox_ref, tools):
    """A Node session that ends without stopping its container: the reaper removes it."""
    r = run_node(sockerlessd, busybox_ref, tools, "leave")
    assert r.returncode == 0, (r.stdout + r.stderr)[-6000:]
    left = re.search(r"^left ([0-9a-f]{64})$", r.stdout, re.M).group(1)
    assert exists(sockerlessd, left), "gone with the session's process, before the reaper's timeout"
    reaper = running_reapers(sockerlessd)
    assert len(reaper) == 1 and reaper[0]["Name"].startswith("/testcontainers-ryuk-"), reaper
    assert_mounts_the_socket(sockerlessd, reaper[0])
    assert_reaped(sockerlessd, left)

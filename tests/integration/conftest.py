"""pytest fixtures for the sockerless integration suite.

Fixtures
  sockerlessd           module-scoped running sockerlessd (fresh per test module)
  sockerlessd_factory   function-scoped factory: .start(*extra_args, ...) -> Daemon
  dockerd               session-scoped real dockerd used as the conformance reference
                        (skipped with a reason when unavailable)
  engine                parametrised over [sockerlessd, dockerd]
  tls_files             session-scoped CA / server / client certificates (openssl CLI)
  docker_config         session-scoped empty DOCKER_CONFIG dir for the docker CLI

Environment
  SOCKERLESSD               path of the daemon binary (default <repo>/build/sockerlessd)
  SOCKERLESS_TEST_DOCKERD   set to 0 to skip everything that needs the reference dockerd
  SOCKERLESS_TEST_TIMEOUT   default per-test timeout in seconds (default 30)
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

# Offline test images and local registries (tests/fixtures): registry, auth_registry,
# registry_factory, test_images, ...
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # <repo>/tests
pytest_plugins = ["fixtures.conftest_plugin"]

from harness import (
    Daemon,
    HarnessError,
    SockerlessFactory,
    make_tls_files,
    make_tmpdir,
    report_problems,
)

DEFAULT_TIMEOUT = float(os.environ.get("SOCKERLESS_TEST_TIMEOUT", "30"))


# ------------------------------------------------------------------ per-test timeout


class TestTimeout(Exception):
    """Raised inside a test that ran past its time budget."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """SIGALRM-based timeout for the call phase (no pytest-timeout plugin needed).
    Use @pytest.mark.timeout(seconds) to change the budget of one test."""
    m = item.get_closest_marker("timeout")
    secs = float(m.args[0]) if m else DEFAULT_TIMEOUT

    def on_alarm(signum, frame):
        raise TestTimeout(f"{item.nodeid} exceeded its {secs:g}s timeout")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, secs)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# -------------------------------------------------------------------- shared bits


@pytest.fixture(scope="session")
def docker_config():
    d = make_tmpdir("docker-config-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


# -------------------------------------------------------------------- sockerlessd


@pytest.fixture
def sockerlessd_factory(docker_config):
    f = SockerlessFactory(docker_config)
    try:
        yield f
    finally:
        f.close()


@pytest.fixture(scope="module")
def sockerlessd(docker_config):
    f = SockerlessFactory(docker_config)
    try:
        yield f.start()
    finally:
        f.close()


# ------------------------------------------------------------------------ dockerd

# Global paths dockerd 20.10 writes to regardless of --data-root/--exec-root; removed
# again at teardown if (and only if) they did not exist before we started it.
_DOCKERD_GLOBAL_LEFTOVERS = ["/etc/docker/key.json", "/run/docker/plugins", "/run/docker"]


def _dockerd_skip_reason() -> str | None:
    if os.environ.get("SOCKERLESS_TEST_DOCKERD", "1") == "0":
        return "reference dockerd disabled by SOCKERLESS_TEST_DOCKERD=0"
    if not shutil.which("dockerd"):
        return "dockerd not on PATH (install docker.io for the conformance baseline)"
    if not shutil.which("containerd"):
        return "containerd not on PATH (needed by dockerd)"
    if os.geteuid() != 0:
        return "the reference dockerd needs root"
    return None


@pytest.fixture(scope="session")
def dockerd(docker_config):
    reason = _dockerd_skip_reason()
    if reason:
        pytest.skip(reason)
    preexisting = {p for p in _DOCKERD_GLOBAL_LEFTOVERS if os.path.lexists(p)}
    tmp = make_tmpdir("dockerd-it-")
    cfg = os.path.join(tmp, "daemon.json")
    Path(cfg).write_text("{}\n")  # private config file: SIGHUP reloads it, not /etc/docker's
    sock = os.path.join(tmp, "docker.sock")
    root = os.path.join(tmp, "root")
    pidfile = os.path.join(tmp, "docker.pid")
    # dockerd runs its own containerd with state under <exec-root>/containerd (socket
    # <exec-root>/containerd/containerd.sock) and root under <data-root>/containerd.
    argv = [
        "dockerd",
        "--config-file", cfg,
        "--storage-driver", "vfs",
        "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false",
        "--bridge=none",
        "-H", f"unix://{sock}",
        "--data-root", root,
        "--exec-root", os.path.join(tmp, "exec"),
        "--pidfile", pidfile,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    d = Daemon("dockerd", argv, tmp=tmp, sock=sock, data_root=root,
               docker_config=docker_config, env=env, pidfile=pidfile)
    try:
        err = None
        try:
            d.wait_ready(timeout=60)
        except HarnessError as e:
            err = str(e)
        if err:
            pytest.fail(err, pytrace=False)
        yield d
    finally:
        report_problems("dockerd", d.cleanup())
        for p in _DOCKERD_GLOBAL_LEFTOVERS:  # files before their directories
            if p in preexisting or not os.path.lexists(p):
                continue
            try:
                if os.path.isdir(p) and not os.path.islink(p):
                    os.rmdir(p)  # only if empty
                else:
                    os.unlink(p)
            except OSError:
                pass


# ------------------------------------------------------------------------- engine


@pytest.fixture(params=["sockerlessd", "dockerd"])
def engine(request):
    """The same scenario against sockerless and the reference dockerd."""
    return request.getfixturevalue(request.param)


# ---------------------------------------------------------------------------- TLS


@pytest.fixture(scope="session")
def tls_files():
    if not shutil.which("openssl"):
        pytest.skip("openssl CLI not available")
    d = make_tmpdir("sockerless-tls-")
    try:
        yield make_tls_files(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ------------------------------------------------------------ the busybox test image


@pytest.fixture(scope="module")
def busybox(sockerlessd, registry):
    """The busybox test image, pulled into this module's sockerlessd."""
    ref = f"{registry.host}/busybox:latest"
    r = sockerlessd.docker("pull", "-q", ref, timeout=60)
    assert r.returncode == 0, r.stderr
    return ref


@pytest.fixture(scope="module")
def pair(sockerlessd, dockerd, registry):
    """Both engines with the busybox test image pulled, for scenarios compared between
    them; the image leaves the session's dockerd with the module."""
    ref = f"{registry.host}/busybox:latest"
    for d in (sockerlessd, dockerd):
        r = d.docker("pull", "-q", ref, timeout=60)
        assert r.returncode == 0, (d.name, r.stderr)
    yield {"sockerlessd": sockerlessd, "dockerd": dockerd, "image": ref}
    dockerd.docker("rmi", "-f", ref)


@pytest.fixture(params=["sockerlessd", "dockerd"])
def target(request, pair):
    """(daemon, image) for each engine in turn; its containers are removed afterwards."""
    d = pair[request.param]
    yield d, pair["image"]
    ids = d.docker("ps", "-aq").stdout.split()
    if ids:
        d.docker("rm", "-f", *ids, timeout=60)

"""pytest fixtures for the sockerless integration suite.

Fixtures
  sockerlessd           module-scoped running sockerlessd (fresh per test module)
  sockerlessd_factory   function-scoped factory: .start(*extra_args, ...) -> Daemon
  dockerd               session-scoped real dockerd used as the conformance reference
                        (skipped with a reason when unavailable)
  engine                parametrised over [sockerlessd, dockerd]
  backing_dockerd       with SOCKERLESS_TEST_BACKEND=docker: the second dockerd that
                        sockerlessd's docker backend fronts (never the reference one)
  tls_files             session-scoped CA / server / client certificates (openssl CLI)
  docker_config         session-scoped empty DOCKER_CONFIG dir for the docker CLI

Environment
  SOCKERLESSD               path of the daemon binary (default <repo>/build/sockerlessd)
  SOCKERLESS_TEST_DOCKERD   set to 0 to skip everything that needs the reference dockerd
  SOCKERLESS_TEST_TIMEOUT   default per-test timeout in seconds (default 30)
  SOCKERLESS_TEST_BACKEND   memory (default) or docker: every "sockerlessd" runs that
                            backend; tests marked @pytest.mark.backends(...) without it skip
  SOCKERLESS_TEST_AGENT_MODE  off (default), forward or reverse: the memory backend runs
                            every container under sockerless-agent (--agent-mode); tests
                            marked @pytest.mark.agentless(reason=...) skip then
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
    AGENT_MODE,
    BACKEND,
    Daemon,
    HarnessError,
    SockerlessFactory,
    make_tls_files,
    make_tmpdir,
    purge_engine,
    run_dockerd,
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


# ------------------------------------------------------------------------ backends


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "backends(*names, reason=...): runs only when the backend under test is one of "
        "names; skipped with the reason otherwise")
    config.addinivalue_line(
        "markers",
        "agentless(reason=...): skipped when containers run under sockerless-agent "
        "(SOCKERLESS_TEST_AGENT_MODE), for the reason given")


def pytest_report_header(config):
    return f"sockerless backend under test: {BACKEND}"


def pytest_collection_modifyitems(config, items):
    for item in items:
        a = item.get_closest_marker("agentless")
        if a and AGENT_MODE != "off":
            item.add_marker(pytest.mark.skip(
                reason=f"not under the agent ({AGENT_MODE}): {a.kwargs.get('reason', '')}"))
        m = item.get_closest_marker("backends")
        if m and BACKEND not in m.args:
            why = m.kwargs.get("reason", "")
            item.add_marker(pytest.mark.skip(
                reason=f"needs the {'/'.join(m.args)} backend" + (f": {why}" if why else "")))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test's report carries the tail of each sockerlessd's log (requests, warnings,
    what the engine said), without the noise of pings and closed connections."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    daemons = []
    for value in item.funcargs.values():
        candidates = value.values() if isinstance(value, dict) else [value]
        daemons += [d for d in candidates
                    if getattr(d, "name", "").startswith("sockerlessd") and hasattr(d, "stderr_path")]
    for d in daemons:
        try:
            with open(d.stderr_path, errors="replace") as f:
                lines = [l.rstrip("\n") for l in f
                         if "/_ping" not in l and "end of stream" not in l]
        except OSError:
            continue
        report.sections.append((f"{d.name} log (last 40 lines)", "\n".join(lines[-40:])))


# -------------------------------------------------------------------- shared bits


@pytest.fixture(scope="session")
def docker_config():
    d = make_tmpdir("docker-config-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


# -------------------------------------------------------------------- sockerlessd


@pytest.fixture(scope="session")
def backend_args(request):
    """Flags that select the backend under test (empty for memory)."""
    if BACKEND == "memory":
        if AGENT_MODE not in ("off", "forward", "reverse"):
            pytest.fail(f"unknown SOCKERLESS_TEST_AGENT_MODE={AGENT_MODE!r}", pytrace=False)
        return [] if AGENT_MODE == "off" else ["--agent-mode", AGENT_MODE]
    if BACKEND == "docker":
        engine = request.getfixturevalue("backing_dockerd")
        return ["--backend", "docker", "--docker-host", engine.host]
    pytest.fail(f"unknown SOCKERLESS_TEST_BACKEND={BACKEND!r} (memory or docker)",
                pytrace=False)


@pytest.fixture(scope="session")
def api_max(request):
    """The newest API version sockerlessd advertises (/_ping, /version): its own, or with
    the docker backend the engine's when that is older (newer requests are lowered)."""
    own = "1.44"
    if BACKEND != "docker":
        return own
    engine = request.getfixturevalue("backing_dockerd").raw("GET", "/version").json()
    return min(own, engine["ApiVersion"], key=lambda v: tuple(int(p) for p in v.split(".")))


def fresh_backend(request) -> None:
    """Every sockerlessd fixture starts as a fresh daemon: with the docker backend, the
    engine underneath is emptied first."""
    if BACKEND == "docker":
        purge_engine(request.getfixturevalue("backing_dockerd"))


@pytest.fixture
def sockerlessd_factory(request, docker_config, backend_args):
    fresh_backend(request)
    f = SockerlessFactory(docker_config, backend_args=backend_args)
    try:
        yield f
    finally:
        f.close()


@pytest.fixture(scope="module")
def sockerlessd(request, docker_config, backend_args):
    fresh_backend(request)
    f = SockerlessFactory(docker_config, backend_args=backend_args)
    try:
        d = f.start()
        if BACKEND == "docker":
            d.reload_target = request.getfixturevalue("backing_dockerd")
        yield d
    finally:
        f.close()


# ------------------------------------------------------------------------ dockerd

@pytest.fixture(scope="session")
def dockerd(docker_config):
    """The reference dockerd scenarios are compared with."""
    with run_dockerd(docker_config, "dockerd") as d:
        yield d


@pytest.fixture(scope="session")
def backing_dockerd(docker_config):
    """The engine under sockerless's docker backend: a dockerd of its own, so that what
    goes through sockerless never shares state with the reference it is compared to."""
    with run_dockerd(docker_config, "backing-dockerd") as d:
        yield d


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

"""Docker Compose v5 (the pinned `docker compose` CLI plugin) against sockerless, on the
backend under test (SOCKERLESS_TEST_BACKEND).

The projects are tests/clients/compose/<scenario>/compose.yaml:
  stack    up -d --wait with healthchecks and depends_on conditions (completed
           successfully, healthy), a service built from a Dockerfile (the classic builder:
           there is no buildx plugin), a named volume shared by services, two networks, a
           profile; then exec, run --rm, logs -f, ps, and down -v
  failing  up --wait must fail when a dependency is unhealthy or a job it waits for fails

Every step is gated on compose's own exit code and on what it printed or left behind.

    .venv/bin/pytest tests/clients/test_compose_v5.py -q
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from harness import DOCKER_CLI, cli_env, make_tmpdir

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="bridge networks need root")

COMPOSE_DIR = Path(__file__).resolve().parent / "compose"


def ts(value: str) -> datetime:
    """An engine timestamp (RFC 3339 with nanoseconds) as a datetime (microseconds)."""
    head, _, frac = value.rstrip("Z").partition(".")
    frac = (frac + "000000")[:6]
    return datetime.fromisoformat(f"{head}.{frac}").replace(tzinfo=timezone.utc)


class Project:
    """One compose project of tests/clients/compose, driven through `docker compose`."""

    def __init__(self, daemon, config_dir: str, registry, scenario: str):
        self.daemon = daemon
        self.file = COMPOSE_DIR / scenario / "compose.yaml"
        self.name = f"cv5{scenario}{os.getpid()}"
        self.env = cli_env(config_dir, {"DOCKER_HOST": daemon.host, "REGISTRY": registry.host})

    def argv(self, *args: str) -> list[str]:
        return [DOCKER_CLI, "compose", "--ansi", "never", "--progress", "plain",
                "-p", self.name, "-f", str(self.file), *args]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout,
                              env=self.env, stdin=subprocess.DEVNULL)

    def ok(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        r = self.run(*args, timeout=timeout)
        assert r.returncode == 0, (f"`docker compose {' '.join(args)}` failed ({r.returncode}):\n"
                                   f"stdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def docker(self, *args: str, timeout: float = 60) -> str:
        r = self.daemon.docker(*args, timeout=timeout)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r.stdout

    def containers(self, *filters: str) -> list[dict]:
        """Inspect documents of the project's containers (one-off ones too)."""
        ids = self.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={self.name}",
                          *[a for f in filters for a in ("--filter", f)]).split()
        return json.loads(self.docker("inspect", *ids)) if ids else []

    def service(self, name: str) -> dict:
        found = [c for c in self.containers(f"label=com.docker.compose.service={name}")
                 if c["Config"]["Labels"].get("com.docker.compose.oneoff") == "False"]
        assert len(found) == 1, (name, [c["Name"] for c in found])
        return found[0]

    def down(self) -> None:
        self.run("--profile", "debug", "down", "-v", "-t", "5", timeout=120)


@pytest.fixture(scope="module")
def compose_config(tools):
    d = make_tmpdir("compose-v5-config-")
    yield tools.docker_config(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def stack(sockerlessd, compose_config, registry):
    p = Project(sockerlessd, compose_config, registry, "stack")
    try:
        started = time.monotonic()
        p.up = p.run("up", "-d", "--wait", "--wait-timeout", "120", timeout=240)
        p.up_seconds = time.monotonic() - started
        yield p
    finally:
        p.down()
        sockerlessd.docker("rmi", "-f", f"{p.name}-app", timeout=60)


# ------------------------------------------------------------------------------ stack


@pytest.mark.timeout(300)
def test_up_wait_orders_dependencies(stack):
    r = stack.up
    assert r.returncode == 0, f"up -d --wait failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    # The classic builder was used (no buildx), and said so.
    assert "falling back to the classic builder" in r.stderr, r.stderr

    seed, web, app, ticker = (stack.service(s) for s in ("seed", "web", "app", "ticker"))
    assert seed["State"]["Status"] == "exited" and seed["State"]["ExitCode"] == 0, seed["State"]
    for c in (web, app, ticker):
        assert c["State"]["Status"] == "running", (c["Name"], c["State"])
    assert web["State"]["Health"]["Status"] == "healthy", web["State"]["Health"]
    assert app["State"]["Health"]["Status"] == "healthy", app["State"]["Health"]
    # The profile's service is not part of a plain up.
    assert not stack.containers("label=com.docker.compose.service=debug")

    # depends_on: web started after seed completed; app after web's first passing probe.
    assert ts(seed["State"]["FinishedAt"]) <= ts(web["State"]["StartedAt"])
    passed = [h for h in web["State"]["Health"]["Log"] if h["ExitCode"] == 0]
    assert passed, web["State"]["Health"]
    assert ts(passed[0]["End"]) <= ts(app["State"]["StartedAt"]), (passed[0], app["State"])
    # What app fetched from web by name when it started: what seed wrote into the volume.
    assert stack.ok("exec", "-T", "app", "cat", "/tmp/first").stdout == "seeded-by-compose\n"

    ps = stack.ok("ps", "--format", "json").stdout
    rows = [json.loads(line) for line in ps.splitlines() if line.strip()]
    assert sorted(row["Service"] for row in rows) == ["app", "ticker", "web"], ps
    assert {row["Service"]: row["Health"] for row in rows}["web"] == "healthy", ps


@pytest.mark.timeout(60)
def test_exec(stack):
    r = stack.ok("exec", "-T", "app", "sh", "-c", 'echo "$GREETING"; cat /built; fetch web; id -un')
    assert r.stdout == "hello-from-compose\nbuilt-by-compose\nseeded-by-compose\nroot\n", r.stdout
    # The command's exit code is compose's.
    r = stack.run("exec", "-T", "app", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert (r.returncode, r.stdout, r.stderr) == (7, "out\n", "err\n"), r
    # Working directory and user options reach the exec.
    r = stack.ok("exec", "-T", "-w", "/usr/local", "-u", "nobody", "app", "sh", "-c", "pwd; id -un")
    assert r.stdout == "/usr/local\nnobody\n", r.stdout


@pytest.mark.timeout(60)
def test_networks_are_separate(stack):
    # ticker is only on `front`: web (only on `back`) is not its to reach by name.
    r = stack.run("exec", "-T", "ticker", "sh", "-c", "nc -w 2 web 8080 </dev/null")
    assert r.returncode != 0, r
    # Memory backend: the name is unknown there. Docker backend: its engine's answer
    # (the harness's dockerd, without iptables, still answers for the name; nothing connects).
    assert "bad address 'web'" in r.stderr or "timed out" in r.stderr, r.stderr
    # app is on both: its alias on `front` resolves from ticker, its name too.
    r = stack.ok("exec", "-T", "ticker", "sh", "-c", "nslookup frontdoor >/dev/null && nslookup app >/dev/null && echo found")
    assert r.stdout == "found\n", r


@pytest.mark.timeout(90)
def test_run_rm(stack):
    # A one-off container of a service: its networks and volumes, its output and exit code.
    r = stack.ok("run", "--rm", "-T", "app", "fetch", "web")
    assert r.stdout == "seeded-by-compose\n", r
    r = stack.ok("run", "--rm", "-T", "--no-deps", "seed", "cat", "/data/seed.txt")
    assert r.stdout == "seeded-by-compose\n", r
    r = stack.run("run", "--rm", "-T", "--no-deps", "-e", "CODE=5", "app", "sh", "-c", 'exit "$CODE"')
    assert r.returncode == 5, r
    # --rm removed them all.
    assert not stack.containers("label=com.docker.compose.oneoff=True")


@pytest.mark.timeout(120)
def test_logs(stack):
    # (one line per run of the job: `run` of a service depending on it starts it again)
    r = stack.ok("logs", "--no-log-prefix", "seed")
    assert r.stdout and set(r.stdout.splitlines()) == {"seed-done"}, r.stdout
    r = stack.ok("logs", "web")
    assert "web-started" in r.stdout, r.stdout

    # logs -f follows the ticker until it stops, then ends by itself: it must see lines
    # printed after it began (5 more than there were a moment before).
    target = len(stack.ok("logs", "--no-log-prefix", "ticker").stdout.splitlines()) + 5
    proc = subprocess.Popen(stack.argv("logs", "-f", "--no-log-prefix", "ticker"), env=stack.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        seen: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 1)
            if ready:
                line = proc.stdout.readline()
                if not line:
                    break
                seen.append(line.rstrip("\n"))
                if int(seen[-1].removeprefix("tick-")) >= target:
                    break
        assert seen and int(seen[-1].removeprefix("tick-")) >= target, seen
        stack.ok("stop", "-t", "5", "ticker")
        rest, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, (proc.returncode, err)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # After the last line, compose says the container exited (its monitor saw the die event).
    lines = [l.replace("\x1b[K", "") for l in seen + rest.splitlines() if l]
    assert lines[-1] == "ticker-1 exited with code 0", lines[-3:]
    lines = lines[:-1]
    numbers = [int(l.removeprefix("tick-")) for l in lines]
    assert numbers == list(range(1, len(numbers) + 1)), lines  # all of them, in order, once
    stack.ok("start", "ticker")


@pytest.mark.timeout(60)
def test_named_volume_and_networks(stack):
    vols = stack.docker("volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={stack.name}")
    assert vols.split() == [f"{stack.name}_data"], vols
    vol = json.loads(stack.docker("volume", "inspect", f"{stack.name}_data"))[0]
    assert vol["Labels"]["com.docker.compose.volume"] == "data", vol
    for svc in ("seed", "web"):
        mounts = stack.service(svc)["Mounts"]
        assert [(m["Type"], m["Name"], m["Destination"]) for m in mounts] == \
            [("volume", f"{stack.name}_data", "/data")], mounts

    nets = stack.docker("network", "ls", "--format", "{{.Name}}", "--filter",
                        f"label=com.docker.compose.project={stack.name}").split()
    assert sorted(nets) == [f"{stack.name}_back", f"{stack.name}_front"], nets
    web, app = stack.service("web"), stack.service("app")
    assert sorted(web["NetworkSettings"]["Networks"]) == [f"{stack.name}_back"]
    assert sorted(app["NetworkSettings"]["Networks"]) == [f"{stack.name}_back", f"{stack.name}_front"]
    assert "frontdoor" in app["NetworkSettings"]["Networks"][f"{stack.name}_front"]["Aliases"]


@pytest.mark.timeout(180)
def test_build(stack):
    image = json.loads(stack.docker("image", "inspect", f"{stack.name}-app"))[0]
    assert image["Config"]["Cmd"][:2] == ["sh", "-c"], image["Config"]
    assert stack.service("app")["Image"] == image["Id"]
    # An explicit build of the service (the classic builder again) succeeds too.
    r = stack.ok("build", "app", timeout=180)
    assert stack.docker("image", "inspect", "-f", "{{.Id}}", f"{stack.name}-app").strip().startswith("sha256:")
    r = stack.ok("run", "--rm", "-T", "--no-deps", "app", "cat", "/built", "/usr/local/bin/fetch")
    assert r.stdout.startswith("built-by-compose\n#!/bin/sh\n"), r.stdout


@pytest.mark.timeout(120)
def test_profiles(stack):
    assert "debug" not in stack.ok("config", "--services").stdout.split()
    assert "debug" in stack.ok("--profile", "debug", "config", "--services").stdout.split()
    stack.ok("--profile", "debug", "up", "-d", "--wait", "debug", timeout=100)
    assert stack.service("debug")["State"]["Status"] == "running"
    out = stack.ok("--profile", "debug", "ps", "--services").stdout.split()
    assert sorted(out) == ["app", "debug", "ticker", "web"], out


@pytest.mark.timeout(120)
def test_down_v_removes_everything(stack):
    # Last in this module: after it the stack is gone.
    stack.ok("--profile", "debug", "down", "-v", "-t", "5", timeout=100)
    assert stack.containers() == []
    assert stack.docker("volume", "ls", "-q", "--filter",
                        f"label=com.docker.compose.project={stack.name}").split() == []
    assert stack.docker("network", "ls", "-q", "--filter",
                        f"label=com.docker.compose.project={stack.name}").split() == []
    assert stack.ok("ps", "-a", "-q").stdout.split() == []


# ---------------------------------------------------------------------------- failing


@pytest.mark.timeout(180)
def test_up_wait_fails_on_failed_dependencies(sockerlessd, compose_config, registry):
    p = Project(sockerlessd, compose_config, registry, "failing")
    try:
        r = p.run("up", "-d", "--wait", "--wait-timeout", "60", "needs-healthy", timeout=90)
        assert r.returncode != 0, r
        assert f"dependency failed to start: container {p.name}-sick-1 is unhealthy" in r.stderr, r.stderr
        assert p.service("sick")["State"]["Health"]["Status"] == "unhealthy"
        assert p.service("needs-healthy")["State"]["Status"] == "created"

        r = p.run("up", "-d", "--wait", "--wait-timeout", "60", "needs-done", timeout=90)
        assert r.returncode != 0, r
        assert "service \"broken\" didn't complete successfully: exit 3" in r.stderr, r.stderr
        assert p.service("broken")["State"]["ExitCode"] == 3
        assert p.service("needs-done")["State"]["Status"] == "created"
        assert p.ok("logs", "--no-log-prefix", "broken").stdout == "broken-job\n"
    finally:
        p.down()
    assert p.containers() == []

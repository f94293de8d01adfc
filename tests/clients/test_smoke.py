"""Smoke tests of the client suites' foundation: each pinned tool runs, and a sockerlessd
pulls and runs the offline client images (from the harness registry, and under their
Docker Hub names through a registry mirror).

    .venv/bin/pytest tests/clients/test_smoke.py -q
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from harness import DOCKER_CLI, make_tmpdir, wait_until

VERSIONS = {
    "act": "0.2.89",
    "compose": "v5.6.0",
    "gitlab-ci-local": "4.75.1",
    "bun": "1.4.5",
    "testcontainers-python": "4.15.0",
    "testcontainers-node": "12.2.0",
    "testcontainers-go": "v0.45.0",
}


def run(argv, timeout=120, ok=True, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if ok:
        assert r.returncode == 0, f"{argv} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r


def cli(d, *args, ok=True, timeout=120, **kw) -> subprocess.CompletedProcess:
    r = d.docker(*args, timeout=timeout, **kw)
    if ok:
        assert r.returncode == 0, (f"`docker {' '.join(args)}` failed ({r.returncode}):\n"
                                   f"stdout: {r.stdout}\nstderr: {r.stderr}")
    return r


# ------------------------------------------------------------------------ the tools


def test_act_runs(tools):
    assert run(tools.act + ["--version"]).stdout.strip() == f"act version {VERSIONS['act']}"


def test_docker_compose_is_the_cli_plugin(tools):
    cfg = tools.docker_config(make_tmpdir("docker-config-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_CONFIG"] = cfg
    out = run([DOCKER_CLI, "compose", "version"], env=env).stdout.strip()
    assert out == f"Docker Compose version {VERSIONS['compose']}", out
    r = run([DOCKER_CLI, "info", "--format", "{{json .ClientInfo.Plugins}}"], env=env, ok=False)
    assert str(tools.cli_plugins / "docker-compose") in r.stdout, r.stdout + r.stderr
    assert run(tools.docker_compose + ["version", "--short"]).stdout.strip() == VERSIONS["compose"][1:]


def test_gitlab_ci_local_runs_under_bun(tools):
    assert run(tools.bun + ["--version"]).stdout.strip() == VERSIONS["bun"]
    assert run(tools.gitlab_ci_local + ["--version"]).stdout.strip() == VERSIONS["gitlab-ci-local"]


def test_testcontainers_node_loads_under_bun(tools):
    # testcontainers 12 asks for Node >= 22.22 (engines); bun runs it.
    script = ("const tc = require('testcontainers'); "
              "const v = require('testcontainers/package.json').version; "
              "console.log(typeof tc.GenericContainer, v)")
    out = run(tools.bun + ["-e", script], cwd=tools.node_modules.parent).stdout.strip()
    assert out == f"function {VERSIONS['testcontainers-node']}", out


def test_testcontainers_python_imports():
    import importlib.metadata

    from testcontainers.core.container import DockerContainer  # noqa: F401
    from testcontainers.core.waiting_utils import wait_for_logs  # noqa: F401

    assert importlib.metadata.version("testcontainers") == VERSIONS["testcontainers-python"]


@pytest.mark.timeout(600)
def test_testcontainers_go_compiles(tools):
    if not (go := shutil.which("go")):
        pytest.skip("go not found")
    mod = (tools.go_dir / "go.mod").read_text()
    assert f"github.com/testcontainers/testcontainers-go {VERSIONS['testcontainers-go']}" in mod
    # Offline: everything must already be in the module cache (install-clients.sh put it there).
    env = dict(os.environ, GOPROXY="off", GOFLAGS="-mod=readonly -buildvcs=false")
    r = run([go, "test", "-count=1", "-run", "^TestCompiles$", "./..."], cwd=tools.go_dir,
            env=env, timeout=590)
    assert re.search(r"^ok\s", r.stdout, re.M), r.stdout


# ------------------------------------------------------------------------ the images


@pytest.mark.timeout(300)
def test_engine_runs_the_debian_image(engine, debian_image):
    cli(engine, "pull", debian_image.ref, timeout=240)
    try:
        _run_debian(engine, debian_image.ref)
    finally:
        if engine.name == "dockerd":  # the session's reference dockerd outlives the test
            engine.docker("rmi", "-f", debian_image.ref, timeout=60)


def _run_debian(engine, ref):
    r = cli(engine, "run", "--rm", ref,
            "bash", "-c", "git --version; node --version; curl --version; id -un")
    lines = r.stdout.splitlines()
    assert re.fullmatch(r"git version 2\.\d+\.\d+", lines[0]), r.stdout
    assert re.fullmatch(r"v\d+\.\d+\.\d+", lines[1]), r.stdout
    assert lines[2].startswith("curl 7.") and "https" in r.stdout, r.stdout
    assert lines[-1] == "root", r.stdout
    # Default command: bash (the config's Cmd), reading the script from stdin.
    r = cli(engine, "run", "--rm", "-i", ref, input="echo $BASH_VERSION; echo $PATH\n")
    assert r.stdout.splitlines()[0].startswith("5."), r.stdout
    assert r.stdout.splitlines()[1] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.fixture(params=["sockerlessd", "dockerd"])
def mirrored(request, hub_daemon):
    """A daemon of its own whose Docker Hub mirror is hub_mirror."""
    with hub_daemon(request, request.param, "dockerd-mirrored") as d:
        yield d


@pytest.mark.timeout(300)
def test_hub_mirror_serves_the_tools_images(mirrored, hub_mirror):
    d = mirrored
    # What act's platforms and gitlab-ci-local pull, by their Docker Hub names.
    for name, hub in (("node:16-buster-slim", "library/node:16-buster-slim"),
                      ("firecow/gitlab-ci-local-util:latest", "firecow/gitlab-ci-local-util:latest"),
                      ("sumina46/wait-for-it:latest", "sumina46/wait-for-it:latest"),
                      ("alpine", "library/alpine:latest"),
                      ("debian:bookworm", "library/debian:bookworm")):
        r = cli(d, "pull", name, timeout=240)
        assert f"Digest: {hub_mirror.images[hub].digest}" in r.stdout, r.stdout
    # The helper has what gitlab-ci-local runs in it (artifacts/cache: bash, rsync).
    r = cli(d, "run", "--rm", "firecow/gitlab-ci-local-util:latest", "bash", "-c",
            "shopt -s globstar nullglob dotglob; mkdir -p /a/b && echo x > /a/b/f && "
            "mkdir -p /tmp/out && cd / && rsync -Ra ./a/b/f /tmp/out/. && cat /tmp/out/a/b/f")
    assert r.stdout == "x\n", r.stdout
    # wait-for-it: reachable port -> 0; a closed one -> 124 after the timeout.
    r = cli(d, "run", "--rm", "--entrypoint", "sh", "sumina46/wait-for-it:latest", "-c",
            "nc -l -p 9000 >/dev/null & wait-for-it 127.0.0.1:9000 -t 10 -- echo up")
    assert r.stdout.strip() == "up", r.stdout + r.stderr
    assert "127.0.0.1:9000 is available" in r.stderr, r.stderr
    r = cli(d, "run", "--rm", "sumina46/wait-for-it:latest", "127.0.0.1:9001", "-t", "1", ok=False)
    assert r.returncode == 124, (r.returncode, r.stdout, r.stderr)
    assert "timeout occurred after waiting 1 seconds for 127.0.0.1:9001" in r.stderr, r.stderr


# A client of the reaper, run inside the reaper's container (the reference dockerd has no
# default bridge to publish its port from): two filter sets, one ACK each, then it goes.
REAPER_CLIENT = r"""
const s = require("net").connect(8080, "127.0.0.1", () =>
  s.write("label=smoke.session=s1\r\nlabel=smoke.kind=volume&label=smoke.session=s2\n"));
let got = "";
s.on("data", (d) => { got += d; if (got === "ACK\nACK\n") { process.stdout.write(got); s.end(); } });
"""


@pytest.mark.timeout(300)
def test_reaper_stand_in_reaps(mirrored):
    """testcontainers/ryuk (tests/fixtures/reaper.js) with the daemon's socket mounted: once
    its client has gone it removes what matches its filter sets (each set's labels all
    match) and nothing else, not itself although it matches too, and exits."""
    d = mirrored
    cli(d, "pull", "busybox", timeout=240)
    ids = {}
    for name, labels in (("victim", ["smoke.session=s1"]), ("keeper", ["smoke.session=s2"])):
        ids[name] = cli(d, "run", "-d", *[f"--label={l}" for l in labels], "busybox", "sleep", "600").stdout.strip()
    cli(d, "network", "create", "--label", "smoke.session=s1", "smoke-net")
    cli(d, "volume", "create", "--label", "smoke.kind=volume", "--label", "smoke.session=s2", "smoke-vol")
    cli(d, "volume", "create", "--label", "smoke.kind=volume", "smoke-vol-kept")
    reaper = cli(d, "run", "-d", "--rm", "--label", "smoke.session=s1", "-e", "RYUK_RECONNECTION_TIMEOUT=1s",
                 "-v", f"{d.sock}:/var/run/docker.sock", "testcontainers/ryuk:0.14.0").stdout.strip()
    try:
        wait_until(lambda: "Started!" in cli(d, "logs", reaper).stdout, timeout=60, interval=0.3,
                   what="the reaper to listen")
        r = cli(d, "exec", reaper, "node", "-e", REAPER_CLIENT)
        assert r.stdout == "ACK\nACK\n", r.stdout + r.stderr
        wait_until(lambda: cli(d, "container", "inspect", reaper, ok=False).returncode != 0,
                   timeout=60, interval=0.3, what="the reaper to reap and exit")
        containers = cli(d, "ps", "-aq", "--no-trunc").stdout.split()
        assert ids["victim"] not in containers and ids["keeper"] in containers, containers
        assert "smoke-net" not in cli(d, "network", "ls", "--format", "{{.Name}}").stdout.split()
        volumes = cli(d, "volume", "ls", "--format", "{{.Name}}").stdout.split()
        assert "smoke-vol" not in volumes and "smoke-vol-kept" in volumes, volumes
    finally:
        cli(d, "rm", "-f", *ids.values(), reaper, ok=False)
        cli(d, "network", "rm", "smoke-net", ok=False)
        cli(d, "volume", "rm", "smoke-vol", "smoke-vol-kept", ok=False)

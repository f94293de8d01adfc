"""Replays of the two CI runners that cannot be installed here (issue 17, item 5): the
Docker API and docker CLI sequences GitLab Runner's docker executor and GitHub's
actions/runner send for a job, written from their documented behaviour (not their code),
run against sockerless and against the reference dockerd, with the same answers asserted.

GitLab Runner (docker executor):
  * its helper image comes from a tarball in the runner, imported with
    `POST /images/create?fromSrc=-`;
  * a network per build (FF_NETWORK_PER_BUILD) with the services on it under their
    aliases, or legacy links to the services on the default bridge;
  * a cache volume, created by name with the runner's labels;
  * a service health check run in a helper container until the service answers;
  * the build container created once with OpenStdin/StdinOnce, then for every stage:
    attached before its start, started, the stage's script written to its stdin and the
    write side half-closed, the output read to the end, its exit code from `wait`; the
    same container started again for the next stage (after_script after a failure).
actions/runner (container job):
  * `docker create --entrypoint tail ... -f /dev/null` job container on a per-job network,
    with the runner's host directories bind-mounted;
  * `docker ps --filter`, `docker inspect --format` of the environment and of a service's
    health, `docker port`;
  * steps as scripts written on the host into the bound _temp and run with `docker exec -i`;
  * cleanup by `rm --force`, `network rm` and `network prune --filter label=`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid

import pytest

from harness import DOCKER_CLI, cli_env, demux, hijack, make_tmpdir

V = "/v1.41"  # what both engines speak (the reference dockerd is 20.10)


# ------------------------------------------------------------------------ helpers

def api(d, method, path, body=None, ok=(200, 201, 204), timeout=60):
    r = d.raw(method, V + path, body, timeout=timeout)
    assert r.status in ok, (d.name, method, path, r.status, r.text)
    return r


def cli(d, *args, ok=True, timeout=60, input=None):
    r = subprocess.run([DOCKER_CLI, "-H", d.host, *args], capture_output=True, text=True,
                       timeout=timeout, input=input, env=cli_env(d.docker_config))
    if ok:
        assert r.returncode == 0, (d.name, args, r.stderr)
    return r


def read_frames(s: socket.socket, data: bytes = b"") -> tuple[bytes, bytes]:
    """The multiplexed output to its end (after `data`, read already): (stdout, stderr)."""
    while chunk := s.recv(65536):
        data += chunk
    streams = demux(data)
    return streams.get(1, b""), streams.get(2, b"")


def export_rootfs(d, image: str) -> bytes:
    """A root filesystem tarball, as the runner carries its helper image."""
    cid = api(d, "POST", "/containers/create", {"Image": image, "Cmd": ["true"]}).json()["Id"]
    try:
        return api(d, "GET", f"/containers/{cid}/export").body
    finally:
        api(d, "DELETE", f"/containers/{cid}?force=1")


def wait_healthy(d, name: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    fmt = "{{if .Config.Healthcheck}}{{print .State.Health.Status}}{{end}}"
    while True:
        status = cli(d, "inspect", f"--format={fmt}", name).stdout.strip()
        if status == "healthy" or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


@pytest.fixture
def both(sockerlessd, dockerd, registry):
    """sockerlessd and the reference dockerd with busybox pulled; all they are given by
    the scenario is removed afterwards by the scenario itself."""
    ref = f"{registry.host}/busybox:latest"
    for d in (sockerlessd, dockerd):
        cli(d, "pull", "-q", ref)
    yield {"sockerlessd": sockerlessd, "dockerd": dockerd, "image": ref}


# --------------------------------------------------------------- GitLab Runner

STAGES = [
    # (name, script, expected exit code)
    ("prepare_script", 'echo "Running on $(hostname) in $CI_PROJECT_DIR"\n'
                       'mkdir -p "$CI_PROJECT_DIR" && cd "$CI_PROJECT_DIR" && pwd\n', 0),
    ("build_script", 'cd "$CI_PROJECT_DIR"\n'
                     'echo "service: $(printf \'GET /passwd HTTP/1.0\\r\\n\\r\\n\' | nc -w 5 svc 80 | head -n 1)"\n'
                     'echo built > artifact.txt; echo "cached $(date +%s)" >> /cache/log\n'
                     'echo to-stderr >&2\nexit 3\n', 3),
    ("after_script", 'cd "$CI_PROJECT_DIR"; echo "after: $(cat artifact.txt)"\n'
                     'echo "cache lines: $(wc -l < /cache/log)"\n', 0),
]


def gitlab_job(d, image: str, links: bool) -> dict:
    """One job of the docker executor; returns what it saw, engine-independent."""
    job = uuid.uuid4().hex[:8]
    labels = {"com.gitlab.gitlab-runner.job.id": job, "com.gitlab.gitlab-runner.managed": "true"}
    seen: dict = {}
    created: list[str] = []
    network = None if links else f"runner-{job}-project-1-concurrent-0-network"
    volume = f"runner-{job}-project-1-concurrent-0-cache-c33bcaa1fd2c77edfc3893b41966cea8"
    helper = f"gitlab-runner-helper-{job}"
    try:
        # The helper image, imported from the runner's own tarball.
        r = api(d, "POST", f"/images/create?fromSrc=-&repo={helper}&tag=x86_64-v16",
                export_rootfs(d, image), timeout=120)
        assert b"error" not in r.body.lower(), r.text
        seen["helper"] = api(d, "GET", f"/images/{helper}:x86_64-v16/json").json()["Os"]
        if network:
            api(d, "POST", "/networks/create",
                {"Name": network, "CheckDuplicate": True, "Labels": labels,
                 "Options": {"com.docker.network.driver.mtu": "1500"}, "Driver": "bridge"})
        api(d, "POST", "/volumes/create", {"Name": volume, "Labels": labels})

        # The service, reached by its alias.
        svc_name = f"runner-{job}-project-1-concurrent-0-svc-0"
        svc = {"Image": image, "Labels": labels, "Cmd": ["httpd", "-f", "-p", "80", "-h", "/etc"],
               "ExposedPorts": {"80/tcp": {}},
               "HostConfig": {"RestartPolicy": {"Name": "no"},
                              "LogConfig": {"Type": "json-file"}}}
        if network:
            svc["HostConfig"]["NetworkMode"] = network
            svc["NetworkingConfig"] = {"EndpointsConfig": {network: {"Aliases": ["svc"]}}}
        sid = api(d, "POST", f"/containers/create?name={svc_name}", svc).json()["Id"]
        created.append(sid)
        api(d, "POST", f"/containers/{sid}/start")

        # Waiting for the service: a helper container probing it (linked to it on the
        # default bridge, as the runner does; on the build network otherwise).
        probe = {"Image": f"{helper}:x86_64-v16", "Labels": labels,
                 "Cmd": ["sh", "-c", "for i in $(seq 100); do nc -w 1 svc 80 </dev/null && exit 0; "
                                     "sleep 0.1; done; exit 1"],
                 "HostConfig": {"NetworkMode": network} if network else
                 {"Links": [f"{svc_name}:svc"]}}
        pid = api(d, "POST", "/containers/create", probe).json()["Id"]
        created.append(pid)
        api(d, "POST", f"/containers/{pid}/start")
        seen["service ready"] = api(d, "POST", f"/containers/{pid}/wait").json()["StatusCode"]

        # The build container: one for the job, started again for every stage.
        build = {"Image": image, "Labels": labels, "Tty": False, "AttachStdin": True,
                 "AttachStdout": True, "AttachStderr": True, "OpenStdin": True,
                 "StdinOnce": True, "WorkingDir": "/builds/group/project",
                 "Env": ["CI=true", "CI_PROJECT_DIR=/builds/group/project",
                         "CI_JOB_ID=" + job],
                 "Cmd": ["sh", "-c", "if [ -x /bin/bash ]; then exec /bin/bash; "
                                     "else exec sh; fi"],
                 "HostConfig": {"Binds": [f"{volume}:/cache"], "NetworkMode": network}
                 if network else {"Binds": [f"{volume}:/cache"], "Links": [f"{svc_name}:svc"]}}
        bid = api(d, "POST", f"/containers/create?name=runner-{job}-build", build).json()["Id"]
        created.append(bid)
        for name, script, _ in STAGES:
            s, status, _, early = hijack(d.sock, f"{V}/containers/{bid}/attach?stream=1&stdin=1"
                                            "&stdout=1&stderr=1", content_type="text/plain")
            assert status == 101, (d.name, status)
            try:
                api(d, "POST", f"/containers/{bid}/start")
                s.sendall(script.encode())
                s.shutdown(socket.SHUT_WR)
                out, err = read_frames(s, early)
            finally:
                s.close()
            code = api(d, "POST", f"/containers/{bid}/wait").json()["StatusCode"]
            seen[name] = (code, out.decode(), err.decode())
        info = api(d, "GET", f"/containers/{bid}/json").json()
        seen["restarts seen by inspect"] = info["RestartCount"]
        seen["links"] = info["HostConfig"]["Links"]
    finally:
        for cid in created:
            api(d, "DELETE", f"/containers/{cid}?force=1&v=1", ok=(204, 404))
        if network:
            api(d, "DELETE", f"/networks/{network}", ok=(204, 404))
        api(d, "DELETE", f"/volumes/{volume}", ok=(204, 404))
        api(d, "DELETE", f"/images/{helper}:x86_64-v16?force=1", ok=(200, 404))
    return seen


def check_gitlab(seen: dict):
    assert seen["helper"] == "linux"
    assert seen["service ready"] == 0
    code, out, err = seen["prepare_script"]
    assert code == 0 and out.endswith("/builds/group/project\n"), out
    code, out, err = seen["build_script"]
    assert code == 3, seen["build_script"]
    assert out.startswith("service: HTTP/1.1 200 OK"), out
    assert err == "to-stderr\n"
    assert seen["after_script"] == (0, "after: built\ncache lines: 1\n", "")


def normalise(seen: dict) -> dict:
    out = dict(seen)
    out["prepare_script"] = (seen["prepare_script"][0],
                             seen["prepare_script"][1].split(" in ", 1)[1], seen["prepare_script"][2])
    out["links"] = [link.rsplit("/", 1)[1] for link in seen["links"] or []]
    return out


@pytest.mark.timeout(240)
def test_gitlab_runner_docker_executor_with_a_build_network(both):
    got = {n: gitlab_job(both[n], both["image"], links=False) for n in ("sockerlessd", "dockerd")}
    check_gitlab(got["dockerd"])
    check_gitlab(got["sockerlessd"])
    assert normalise(got["sockerlessd"]) == normalise(got["dockerd"])


@pytest.mark.timeout(120)
def test_gitlab_runner_docker_executor_with_legacy_links(sockerlessd, registry):
    """Without a build network, services are linked on the default bridge (the reference
    dockerd runs without one; tests/integration/test_links.py compares links with a bridged
    dockerd; the docker backend's engine here has one of its own)."""
    image = f"{registry.host}/busybox:latest"
    cli(sockerlessd, "pull", "-q", image)
    seen = gitlab_job(sockerlessd, image, links=True)
    check_gitlab(seen)
    assert [link.rsplit("/", 1)[1] for link in seen["links"]] == ["svc"], seen["links"]


# ------------------------------------------------------------------ actions/runner

def actions_job(d, image: str) -> dict:
    """A container job with a service, as actions/runner drives it through the CLI."""
    seen: dict = {}
    label = uuid.uuid4().hex[:12]
    network = f"github_network_{uuid.uuid4().hex}"
    root = make_tmpdir("actions-runner-")
    work, temp = os.path.join(root, "_work"), os.path.join(root, "_work", "_temp")
    for p in (os.path.join(work, "repo", "repo"), os.path.join(temp, "_github_home"),
              os.path.join(temp, "_github_workflow"), os.path.join(root, "externals")):
        os.makedirs(p)
    job, svc = f"{label}_job", f"{label}_web"
    try:
        cli(d, "network", "create", "--label", label, network)
        cli(d, "create", "--name", svc, "--label", label, "--network", network,
            "--network-alias", "web", "-p", "80", "--health-cmd", "nc -w 1 127.0.0.1 80 </dev/null",
            "--health-interval", "1s", "--health-retries", "30", image,
            "httpd", "-f", "-p", "80", "-h", "/etc")
        cli(d, "start", svc)
        seen["health"] = wait_healthy(d, svc)
        port = cli(d, "port", svc).stdout.splitlines()
        seen["port"] = sorted({line.split(" -> ")[0] for line in port})  # IPv4 (and IPv6)
        assert all(line.split(":")[-1].isdigit() for line in port), port

        cli(d, "create", "--name", job, "--label", label, "--workdir", "/__w/repo/repo",
            "--network", network, "-e", "HOME=/github/home", "-e", "GITHUB_ACTIONS=true",
            "-e", "CI=true", "-v", f"{work}:/__w", "-v", f"{root}/externals:/__e:ro",
            "-v", f"{temp}/_github_home:/github/home",
            "-v", f"{temp}/_github_workflow:/github/workflow",
            "--entrypoint", "tail", image, "-f", "/dev/null")
        cid = cli(d, "start", job).stdout.strip()
        assert cid == job
        ps = cli(d, "ps", "--all", "--filter", f"name={job}", "--filter", "status=running",
                 "--no-trunc", "--format", "{{.ID}} {{.Status}}").stdout.split()
        seen["ps"] = (len(ps[0]), ps[1])
        env = cli(d, "inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}",
                  job).stdout.splitlines()
        seen["env"] = sorted(e for e in env if e)

        steps = [("ok", "echo hi from $GITHUB_ACTIONS; pwd; "
                        "printf 'GET /passwd HTTP/1.0\\r\\n\\r\\n' | nc -w 5 web 80 | head -n 1; "
                        "echo written > /github/home/f; ls /__e"),
                 ("fails", "echo before; false; echo never")]
        for name, body in steps:
            script = f"{uuid.uuid4()}.sh"
            with open(os.path.join(temp, script), "w") as f:
                f.write(body + "\n")
            r = cli(d, "exec", "-i", "--workdir", "/__w/repo/repo", "-e", "STEP=" + name, job,
                    "sh", "-e", f"/__w/_temp/{script}", ok=False)
            seen[name] = (r.returncode, r.stdout.replace("\r", ""))
        with open(os.path.join(temp, "_github_home", "f")) as f:
            seen["written on the host"] = f.read()
    finally:
        cli(d, "rm", "--force", job, svc, ok=False)
        cli(d, "network", "rm", network, ok=False)
        cli(d, "network", "prune", "--force", "--filter", f"label={label}", ok=False)
        left = cli(d, "network", "ls", "--filter", f"label={label}", "-q").stdout.split()
        seen["networks left"] = left
        shutil.rmtree(root, ignore_errors=True)
    return seen


@pytest.mark.timeout(240)
def test_actions_runner_container_job(both):
    got = {n: actions_job(both[n], both["image"]) for n in ("sockerlessd", "dockerd")}
    d = got["dockerd"]
    assert d["health"] == "healthy" and d["port"] == ["80/tcp"]
    assert d["ps"] == (64, "Up")
    assert "GITHUB_ACTIONS=true" in d["env"] and any(e.startswith("PATH=") for e in d["env"])
    assert d["ok"] == (0, "hi from true\n/__w/repo/repo\nHTTP/1.1 200 OK\n")
    assert d["fails"] == (1, "before\n")
    assert d["written on the host"] == "written\n"
    assert d["networks left"] == []
    assert got["sockerlessd"] == got["dockerd"]

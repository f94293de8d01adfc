"""The GitHub Actions suite: our own workflows (tests/clients/act/<group>/.github/workflows)
run by the real act (v0.2.89) against a sockerlessd, each group in one act invocation,
gated on act's exit code and on what each job printed and how each job and step ended.

    SOCKERLESSD=build/sockerlessd .venv/bin/pytest -q tests/clients/test_act.py
    SOCKERLESS_TEST_BACKEND=docker ...                       # the docker backend
    SOCKERLESS_TEST_ACT_REFERENCE=1 ...                      # the same on the reference dockerd too

act is pointed at the daemon the way a user would: DOCKER_HOST and --container-daemon-socket
(mounted into job containers as /var/run/docker.sock), `-P ubuntu-latest=catthehacker/ubuntu:act-latest`
pulled through the daemon (its Docker Hub mirror is the harness's `hub_mirror`), local actions
only (no network), --artifact-server-path for artifacts. act's --json log gives, per line, the
job id, the step id, a step's output (raw_output) and the step and job results.

Groups (each a directory under tests/clients/act):
  basics     job-container, runner-image, env-files, shells, conditions, large-output, user,
             masking, volumes
  jobs       needs-outputs, matrix, job-if
  actions    docker-step, dockerfile-action, js-action, composite, image-action
  services   services-container, services-runner (the service image is built first)
  artifacts  artifacts
  failures   exit-code, pipefail, timeout, docker-step-fails, js-action-fails,
             unhealthy-service, matrix-fail-fast, missing-image (act exits 1; each job's
             failure asserted)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness import make_tmpdir
from harness import free_tcp_port as free_port

GROUPS = Path(__file__).resolve().parent / "act"
PLATFORM = "ubuntu-latest=catthehacker/ubuntu:act-latest"
SVC_IMAGE = "act-svc:latest"
SECRET = "s3cr3t-Value-for-act"

ENGINES = ["sockerlessd"]
if os.environ.get("SOCKERLESS_TEST_ACT_REFERENCE") == "1":
    ENGINES.append("dockerd")


# ------------------------------------------------------------------------ the daemon


@pytest.fixture(scope="module", params=ENGINES)
def daemon(request, hub_daemon):
    """sockerlessd (the backend under test) with the Docker Hub mirror; or, with
    SOCKERLESS_TEST_ACT_REFERENCE=1, the reference dockerd with the same mirror."""
    with hub_daemon(request, request.param, "dockerd-act") as d:
        yield d


@pytest.fixture(scope="module")
def svc_image(daemon):
    """The services' image (busybox httpd serving $GREETING on 8080), built by the daemon:
    a service cannot be given a command."""
    r = daemon.docker("build", "-q", "-t", SVC_IMAGE, str(GROUPS / "services" / "svc"),
                      timeout=240, env={"DOCKER_BUILDKIT": "0"})
    assert r.returncode == 0, f"building {SVC_IMAGE} failed:\n{r.stdout}\n{r.stderr}"
    return SVC_IMAGE


# ------------------------------------------------------------------------ running act


@dataclass
class ActRun:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    artifacts: Path
    entries: list[dict] = field(default_factory=list)
    other: list[str] = field(default_factory=list)  # stdout lines that are not JSON

    def __post_init__(self):
        for line in self.stdout.splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                self.other.append(line)
                continue
            if isinstance(e, dict):
                self.entries.append(e)
            else:
                self.other.append(line)

    def describe(self) -> str:
        results = {e["jobID"]: e["jobResult"] for e in self.entries if "jobResult" in e}
        failed = {j for j, r in results.items() if r != "success"}
        shown = [e for e in self.entries if e.get("jobID") in failed]
        tail = "\n".join(f"[{e.get('jobID')}/{_step(e)}] {e.get('msg', '').rstrip()[:300]}"
                         for e in (shown or self.entries)[-150:])
        return (f"act exited {self.returncode} after {self.seconds:.1f}s\nargv: {self.argv}\n"
                f"job results: {results}\n"
                f"--- log entries (of the jobs that did not succeed, else the last) ---\n{tail}\n"
                f"--- other stdout ---\n"
                + "\n".join(self.other[-40:]) + f"\n--- stderr ---\n{self.stderr[-4000:]}")

    def job_entries(self, job: str) -> list[dict]:
        return [e for e in self.entries if e.get("jobID") == job]

    def output(self, job: str, step: str | None = None) -> list[str]:
        """The lines the job's steps printed (all its matrix combinations), in order."""
        lines = []
        for e in self.job_entries(job):
            if e.get("raw_output") and (step is None or _step(e) == step):
                lines += e.get("msg", "").rstrip("\n").split("\n")
        return lines

    def text(self, job: str) -> str:
        return "\n".join(self.output(job))

    def job_results(self, job: str) -> list[str]:
        """Every jobResult the job logged (one per matrix combination)."""
        return [e["jobResult"] for e in self.job_entries(job) if "jobResult" in e]

    def step_results(self, job: str) -> dict[str, str]:
        """step id -> outcome, for the main stage of each step that ran."""
        return {_step(e): e["stepResult"] for e in self.job_entries(job)
                if "stepResult" in e and e.get("stage") == "Main"}

    def messages(self, job: str) -> str:
        return "\n".join(e.get("msg", "") for e in self.job_entries(job))


def _step(e: dict) -> str:
    ids = e.get("stepID") or []
    return ids[-1] if isinstance(ids, list) and ids else str(ids)


def act(tools, daemon, group: str, *extra: str, expect: int = 0, timeout: float = 400,
        concurrent: int = 3) -> ActRun:
    """Run every workflow of a group in one act invocation; asserts act's exit code."""
    tmp = Path(make_tmpdir(f"act-{group}-"))
    home = tmp / "home"
    home.mkdir()
    artifacts = tmp / "artifacts"
    argv = tools.act + [
        "push", "-W", ".github/workflows/", "--json",
        "-P", PLATFORM, "--pull=false", "--action-offline-mode",
        "--container-daemon-socket", daemon.host,
        "--action-cache-path", str(tmp / "actions"), "--no-cache-server",
        "--artifact-server-path", str(artifacts), "--artifact-server-addr", "127.0.0.1",
        "--artifact-server-port", str(free_port()),
        "--concurrent-jobs", str(concurrent),
        *extra,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "ACT_", "GITHUB_"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_CACHE_HOME=str(home / ".cache"),
               DOCKER_HOST=daemon.host, DOCKER_CONFIG=daemon.docker_config)
    start = time.monotonic()
    try:
        p = subprocess.run(argv, cwd=GROUPS / group, env=env, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        run = ActRun(argv, p.returncode, p.stdout, p.stderr, time.monotonic() - start, artifacts)
        assert run.returncode == expect, run.describe()
        return run
    finally:
        # what act leaves when a job fails (its containers, volumes and networks are removed
        # on success only): the daemon is the module's, the next group starts clean
        _leftovers(daemon)
        shutil.rmtree(tmp, ignore_errors=True)


def _leftovers(daemon) -> None:
    ids = daemon.docker("ps", "-aq", "--filter", "name=act-").stdout.split()
    if ids:
        daemon.docker("rm", "-f", "-v", *ids, timeout=120)
    vols = [v for v in daemon.docker("volume", "ls", "-q").stdout.split() if v.startswith("act-")]
    if vols:
        daemon.docker("volume", "rm", "-f", *vols, timeout=60)
    nets = [n for n in daemon.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
            if n.startswith("act-")]
    if nets:
        daemon.docker("network", "rm", *nets, timeout=60)


def ok(run: ActRun, *jobs: str) -> None:
    for job in jobs:
        assert run.job_results(job) and set(run.job_results(job)) == {"success"}, \
            f"job {job}: {run.job_results(job)}\n{run.describe()}"


def has(run: ActRun, job: str, *lines: str) -> None:
    out = run.output(job)
    for line in lines:
        assert line in out, f"job {job} did not print {line!r}; it printed:\n" + "\n".join(out[-60:])


def sha16(data: str) -> str:
    return hashlib.sha256(data.encode()).hexdigest()[:16]


# ------------------------------------------------------------------------ the groups


@pytest.mark.timeout(500)
def test_basics(tools, daemon):
    run = act(tools, daemon, "basics", "-s", f"SUITE_SECRET={SECRET}")
    ok(run, "in-container", "on-platform", "env-files", "shells", "bash-pipefail", "conditions",
       "large-output", "as-user", "masking", "vol-write", "vol-read")

    # job-container.yml
    has(run, "in-container", "codename=bookworm", "user=root", "hostname=ci-box",
        "env=container-env", "cwd is the workspace", "message=hello from the workspace",
        "mode kept", "socket mounted", "ping=OK")

    # runner-image.yml
    has(run, "on-platform", "node major 18", "git version N",
        "os=Linux job=on-platform event=push ci=true actions=true",
        "expr=on-platform/Linux/push", "event is an object: true")

    # env-files.yml
    has(run, "env-files", "FIRST=one", "MULTI=line a|line b", "answer=42",
        "poem=roses are red|violets are blue", "level=step wf=wf", "greet-tool says: via-path",
        "env-expr=one-job")

    # shells.yml
    has(run, "shells", "sh-bash-version=[]", "dir=data", "hello from the workspace",
        "bash-major=5 array=y", "step-dir=tools", "node-shell HELLO FROM THE WORKSPACE")
    has(run, "bash-pipefail", "unnamed pipefail-off", "named pipefail-on")

    # conditions.yml
    out = run.output("conditions")
    has(run, "conditions", "cond-first", "cond-env-match", "cond-soft-before",
        "cond-after-soft outcome=failure conclusion=success", "cond-on-success", "cond-event push")
    for never in ("cond-never", "cond-env-mismatch", "cond-on-failure"):
        assert never not in out, out
    steps = run.step_results("conditions")
    assert steps.get("soft") == "failure", steps
    assert not run.job_entries("skipped-job") or not run.output("skipped-job"), run.describe()
    assert "cond-skipped-job-ran" not in run.stdout

    # large-output.yml
    lines = run.output("large-output", step="0")
    assert lines == [f"line {i:06d}" for i in range(1, 50001)], (len(lines), lines[:3], lines[-3:])
    assert run.output("large-output", step="1") == ["x" * 65536]
    both = run.output("large-output", step="2")
    assert sorted(both) == sorted([f"out {i}" for i in range(1, 501)] + [f"err {i}" for i in range(1, 501)]), \
        both[:10]
    big = ",".join(str(i) for i in range(1, 20001))
    has(run, "large-output", f"sum={sha16(big)}", f"got={sha16(big)} len={len(big)}")

    # user.yml
    has(run, "as-user", "user uid=1000 gid=1000", "user owner=1000:1000", "user wrote written")

    # masking.yml
    has(run, "masking", "mask secret=***", "mask dynamic=***", "mask inside group",
        f"mask length={len(SECRET)}")
    assert SECRET not in run.stdout and "dynamic-value-9" not in "\n".join(run.output("masking"))
    assert not any(l.startswith("::") for l in run.output("masking")), run.output("masking")

    # volumes.yml
    has(run, "vol-write", "vol scratch=tmpfs")
    has(run, "vol-read", "vol read=from vol-write")


@pytest.mark.timeout(400)
def test_jobs(tools, daemon):
    run = act(tools, daemon, "jobs")
    ok(run, "build", "lint", "test", "report", "gate", "when-yes", "finally")
    assert len(run.job_results("matrix")) == 4 and set(run.job_results("matrix")) == {"success"}, \
        run.describe()

    # needs-outputs.yml: order and values
    has(run, "build", "built")
    has(run, "test", "testing 1.2.3")
    has(run, "report", "report version=1.2.3 flavour=plain", "report passed=17 verdict=clean",
        "report results=success,success,success")
    first = {job: min(i for i, e in enumerate(run.entries) if e.get("jobID") == job)
             for job in ("build", "test", "report")}
    last = {job: max(i for i, e in enumerate(run.entries) if e.get("jobID") == job)
            for job in ("build", "test", "lint")}
    assert last["build"] < first["test"] and last["test"] < first["report"] \
        and last["lint"] < first["report"], (first, last)

    # matrix.yml: the exact combinations (exclude removed sour-2; include extended sweet-2
    # and added bitter-9)
    combos = sorted(l for l in run.output("matrix") if l.startswith("combo "))
    assert combos == ["combo bitter-9 extra=[]", "combo sour-1 extra=[]", "combo sweet-1 extra=[]",
                      "combo sweet-2 extra=[sprinkles]"], combos
    keys = sorted(l for l in run.output("matrix") if l.startswith("keys "))
    assert keys == ["keys extra,flavour,size"] + ["keys flavour,size"] * 3, keys

    # job-if.yml
    has(run, "when-yes", "job-if when-yes ran")
    assert "job-if when-no ran" not in run.stdout
    has(run, "finally", "job-if finally yes=success no=skipped")


@pytest.mark.timeout(500)
def test_actions(tools, daemon):
    run = act(tools, daemon, "actions")
    ok(run, "docker-step", "dockerfile-action", "js-action", "composite", "image-action")

    # docker-step.yml: the step containers share the job container's network namespace
    host = [l.split("=", 1)[1] for l in run.output("docker-step") if l.startswith("dstep job-hostname=")]
    has(run, "docker-step", "dstep args ran", "dstep-env", "dstep file=workspace file",
        f"dstep step-hostname={host[0] if host else '?'}", "dstep alpine 0")

    # dockerfile-action.yml
    has(run, "dockerfile-action", "docker-greet hello world! (input env INPUT_WHO=world)",
        "docker-greet marker=built-in-image workspace=workspace file", "dfa output=hello world!")

    # js-action.yml: main, then the post step after the job's last step
    has(run, "js-action", "js-hello 1/2 octo", "js-hello 2/2 octo",
        "js-hello node major 18 action path ok=true", "jsa output=OCTO env=set-by-octo",
        "js-hello post state=octo")
    out = run.output("js-action")
    assert out.index("js-hello post state=octo") > out.index("jsa output=OCTO env=set-by-octo"), out

    # composite.yml
    has(run, "composite", "composite word=sockerless", "js-hello 1/1 sockerless",
        "comp length=10 env=set-by-sockerless", "js-hello post state=sockerless")

    # image-action.yml: exec form, no shell (the literal $INPUT_WORD); the post entrypoint
    # after the job's steps
    has(run, "image-action", "image-action main banana $INPUT_WORD", "image-action after",
        "image-action post banana $INPUT_WORD")
    out = run.output("image-action")
    assert out.index("image-action post banana $INPUT_WORD") > out.index("image-action after"), out


@pytest.mark.timeout(500)
def test_services(tools, daemon, svc_image):
    port = free_port()
    run = act(tools, daemon, "services", "--var", f"SVC_PORT={port}")
    ok(run, "svc-container", "svc-runner")
    has(run, "svc-container", "svc web=hello-from-web", "svc second=hello-from-second")
    assert sorted(l for l in run.output("svc-container") if l.startswith("svc status ")) == \
        ["svc status (healthy)", "svc status (none)"], run.output("svc-container")
    has(run, "svc-runner", "svc runner web=hello-to-runner")


@pytest.mark.timeout(300)
def test_artifacts(tools, daemon):
    run = act(tools, daemon, "artifacts")
    ok(run, "produce", "consume")
    numbers = "".join(f"{i}\n" for i in range(1, 1001))
    has(run, "produce", f"art uploaded {sha16(numbers)}")
    has(run, "consume", "art listed bundle", "art item bundle/hello.txt", "art item bundle/numbers.txt",
        f"art hello=artifact payload numbers={sha16(numbers)}")


@pytest.mark.timeout(500)
def test_failures(tools, daemon, svc_image):
    run = act(tools, daemon, "failures", expect=1, concurrent=6)

    # exit-code.yml
    assert run.job_results("fails") == ["failure"], run.describe()
    steps = run.step_results("fails")
    assert steps.get("0") == "success" and steps.get("boom") == "failure", steps
    out = run.output("fails")
    has(run, "fails", "fail before", "fail boom", "fail on-failure outcome=failure",
        "fail always job=failure")
    assert "fail not-reached" not in out, out
    assert "exitcode '3': failure" in run.messages("fails"), run.messages("fails")
    assert "fail dependent ran" not in run.stdout
    assert not run.job_results("dependent"), run.describe()
    ok(run, "survivor")
    has(run, "survivor", "fail survivor ran")

    # pipefail.yml
    assert run.job_results("pipefail") == ["failure"], run.describe()
    has(run, "pipefail", "pipefail start")
    assert "pipefail not-reached" not in run.output("pipefail")

    # timeout.yml: cut off after its minute
    assert run.job_results("timeout") == ["failure"], run.describe()
    has(run, "timeout", "timeout sleeping", "timeout after outcome=failure")
    assert "timeout not-reached" not in run.output("timeout")
    assert run.step_results("timeout").get("slow") == "failure"

    # docker-step-fails.yml
    assert run.job_results("docker-step-fails") == ["failure"], run.describe()
    has(run, "docker-step-fails", "dfail before")
    assert "dfail not-reached" not in run.output("docker-step-fails")
    assert "exit with `FAILURE`: 7" in run.messages("docker-step-fails"), run.messages("docker-step-fails")

    # js-action-fails.yml
    assert run.job_results("js-action-fails") == ["failure"], run.describe()
    has(run, "js-action-fails", "jsfail about to fail")
    assert "jsfail not-reached" not in run.output("js-action-fails")
    assert "exitcode '2': failure" in run.messages("js-action-fails"), run.messages("js-action-fails")

    # matrix-fail-fast.yml: the other combinations finish (act keeps one result for the whole
    # matrix, sticky once failed, so each combination's step is what tells)
    steps = sorted((e["matrix"]["n"], e["stepResult"]) for e in run.job_entries("mff")
                   if "stepResult" in e and e.get("stage") == "Main")
    assert steps == [(1, "success"), (2, "failure"), (3, "success")], steps
    assert "failure" in run.job_results("mff") and len(run.job_results("mff")) == 3, run.job_results("mff")
    assert sorted(l for l in run.output("mff")) == ["mff n=1", "mff n=2", "mff n=3"], run.output("mff")

    # missing-image.yml
    assert run.job_results("missing-image") == ["failure"], run.describe()
    assert "missing not-reached" not in run.stdout

    # unhealthy-service.yml
    assert run.job_results("unhealthy-service") == ["failure"], run.describe()
    assert "unhealthy not-reached" not in run.stdout
    assert "service container failed to start" in run.messages("unhealthy-service"), \
        run.messages("unhealthy-service")

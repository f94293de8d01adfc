"""GitLab CI suite: real pipelines (tests/clients/gitlab/<pipeline>/.gitlab-ci.yml) run by
gitlab-ci-local 4.75 (under bun) against a sockerlessd, each gated on gitlab-ci-local's exit
code and on what every job printed.

gitlab-ci-local drives the engine through the docker CLI (DOCKER_HOST): `docker create` /
`start --attach -i` of the job container (started again for after_script), `docker cp` of
the project, artifacts and cache through helper containers (firecow/gitlab-ci-local-util),
a network per job with services and wait-for-it containers (sumina46/wait-for-it). All of it
is pulled by Docker Hub names, which the harness's hub mirror serves: the sockerlessd runs
with --registry-mirror (with the docker backend, its engine has the mirror).

The pipelines, one gitlab-ci-local run each (many jobs per pipeline keep the suite short):
  basics     image: (entrypoint cleared / wrapped), busybox image, variables, before_script /
             after_script (after a failure too), allow_failure (true, exit_codes), rules,
             extends, include: local, needs, parallel: matrix, a large log   -> exit 0
  artifacts  artifacts (paths, dotenv report, when: always), needs / dependencies, cache
             between jobs, artifacts copied back to the project                -> exit 0
  services   services with aliases (and entrypoint, command, variables) reached over TCP
             (HTTP and raw nc), an image with an exposed port (wait-for-it health check) -> 0
  failures   non-zero exits (exit N, a failing command, a failing pipe, an exit code not
             in allow_failure) fail the pipeline; the later stage does not run -> exit 1

SOCKERLESS_TEST_GCL_REFERENCE=1 runs the same pipelines against a reference dockerd too
(with the hub mirror), which is how the expectations below were checked;
SOCKERLESS_TEST_GCL_ECHO=1 (with pytest -s) prints each run's whole output.

    SOCKERLESS_TEST_BACKEND=memory .venv/bin/pytest -q tests/clients/test_gitlab_ci_local.py
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import DOCKER_CLI, cli_env, make_tmpdir

PIPELINES = Path(__file__).resolve().parent / "gitlab"

# The service image with an exposed port (gitlab-ci-local health-checks a service only on
# the tcp ports its image exposes); built in the daemon under test before the pipelines run.
EXPOSED_DOCKERFILE = """\
FROM busybox
EXPOSE 8080
CMD ["sh", "-c", "mkdir -p /www && echo served-by-exposed > /www/index.html && exec httpd -f -p 8080 -h /www"]
"""


@pytest.fixture(scope="module", params=["sockerlessd", "dockerd"])
def daemon(request, hub_daemon):
    """The daemon the pipelines run against: sockerlessd (the backend under test) with the
    hub mirror; or, with SOCKERLESS_TEST_GCL_REFERENCE=1, a reference dockerd."""
    if request.param == "dockerd" and os.environ.get("SOCKERLESS_TEST_GCL_REFERENCE") != "1":
        pytest.skip("reference run: set SOCKERLESS_TEST_GCL_REFERENCE=1")
    with hub_daemon(request, request.param, "dockerd-gcl") as d:
        _prepare(d)
        yield d


def _prepare(d) -> None:
    r = d.docker("build", "-q", "-t", "gcl-exposed:latest", "-", input=EXPOSED_DOCKERFILE,
                 timeout=240, env={"DOCKER_BUILDKIT": "0"})
    assert r.returncode == 0, f"docker build failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"


@dataclass
class Run:
    name: str
    returncode: int
    stdout: str
    stderr: str
    work: Path
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def job(self, job: str) -> list[str]:
        """What a job's script printed (stdout, then stderr), without gitlab-ci-local's
        "still running..." notes (after 10 s of silence)."""
        prefix = f"{job} > "
        return [line[len(prefix):] for line in (self.stdout + "\n" + self.stderr).splitlines()
                if line.startswith(prefix) and line != f"{job} > still running..."]

    def report(self) -> dict[str, str]:
        """The final report: job name -> PASS / WARN / FAIL."""
        out = {}
        for line in self.stdout.splitlines():
            m = re.fullmatch(r"\s*(PASS|WARN|FAIL)\s+(.+?)(?:\s+pre_script)?\s*", line)
            if m:
                out[m.group(2)] = m.group(1)
        return out

    def log_file(self, job: str) -> str:
        return (self.work / ".gitlab-ci-local" / "output" / f"{job}.log").read_text()

    def __str__(self) -> str:
        return (f"gitlab-ci-local {self.name}: exit {self.returncode}\n--- stdout\n{self.stdout[-12000:]}"
                f"\n--- stderr\n{self.stderr[-8000:]}")


@pytest.fixture
def gcl_tmp():
    tmp = Path(make_tmpdir("gcl-"))
    yield tmp
    shutil.rmtree(tmp, ignore_errors=True)


def run_pipeline(tools, daemon, tmp: Path, name: str, timeout: float = 400) -> Run:
    work = tmp / name
    shutil.copytree(PIPELINES / name, work)
    home = tmp / "home"
    home.mkdir()
    # gitlab-ci-local takes GCL_* environment variables for its options: none from outside
    env = {k: v for k, v in cli_env(daemon.docker_config).items() if not k.startswith("GCL_")}
    env.update({
        "DOCKER_HOST": daemon.host,
        "HOME": str(home),
        "PATH": f"{Path(DOCKER_CLI).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    })
    for argv in (["git", "init", "-q", "-b", "main"], ["git", "config", "user.name", "suite"],
                 ["git", "config", "user.email", "suite@example.com"], ["git", "add", "-A"],
                 ["git", "commit", "-q", "-m", "pipeline"],
                 ["git", "remote", "add", "origin", "https://gitlab.example.com/sockerless/suite.git"],
                 ["git", "update-ref", "refs/remotes/origin/main", "HEAD"],
                 ["git", "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main"]):
        subprocess.run(argv, cwd=work, env=env, check=True, capture_output=True)
    argv = tools.gitlab_ci_local + ["--no-color", "--max-job-name-padding", "0",
                                    "--concurrency", "4"]
    start = time.monotonic()
    try:
        r = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=timeout)
        run = Run(name, r.returncode, r.stdout, r.stderr, work, time.monotonic() - start)
        if os.environ.get("SOCKERLESS_TEST_GCL_ECHO") == "1":  # pytest -s: see the whole run
            print(f"\n{run}\n({run.seconds:.1f} s)")
        return run
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"gitlab-ci-local {name} still running after {timeout}s\n"
                    f"{(e.stdout or b'')[-8000:]!r}\n{(e.stderr or b'')[-4000:]!r}")


def expect_report(run: Run, passed=(), warned=(), failed=(), not_run=()) -> None:
    rep = run.report()
    for job in passed:
        assert rep.get(job) == "PASS", f"{job}: {rep.get(job)}\n{run}"
    for job in warned:
        assert rep.get(job) == "WARN", f"{job}: {rep.get(job)}\n{run}"
    for job in failed:
        assert rep.get(job) == "FAIL", f"{job}: {rep.get(job)}\n{run}"
    for job in not_run:
        assert job not in rep and not run.job(job), f"{job} ran\n{run}"
    assert set(rep) == set(passed) | set(warned) | set(failed), f"{rep}\n{run}"


def expect_lines(run: Run, job: str, *lines: str) -> None:
    """The job printed these lines, in this order (other lines may come between)."""
    got = run.job(job)
    i = 0
    for want in lines:
        while i < len(got) and got[i] != want:
            i += 1
        assert i < len(got), f"{job}: {want!r} not printed (in order) among {got!r}\n{run}"
        i += 1


def expect_absent(run: Run, job: str, *lines: str) -> None:
    got = run.job(job)
    for line in lines:
        assert line not in got, f"{job} printed {line!r}\n{run}"


# ------------------------------------------------------------------------ pipelines


MATRIX = [f"matrix: [{os_},{arch}]" for os_ in ("linux", "bsd") for arch in ("amd64",)]


@pytest.mark.timeout(600)
def test_basics(tools, daemon, gcl_tmp):
    run = run_pipeline(tools, daemon, gcl_tmp, "basics")
    assert run.returncode == 0, run
    expect_report(run,
                  passed=["variables-job", "entrypoint-cleared", "entrypoint-wrapper", "debian-image",
                          "scripts-order", "rules-match", "large-log", "extended", "included-job",
                          *MATRIX],
                  warned=["after-failure", "allowed-exit-code"],
                  not_run=["rules-never", "rules-no-match"])
    expect_lines(run, "variables-job", "default before_script ran",
                 "GLOBAL_VAR=global-value OVERRIDDEN=from-job NESTED=global-value-nested",
                 "CI_JOB_NAME=variables-job CI_JOB_STAGE=first", "in CI_PROJECT_DIR",
                 "hello from the repository", "busybox says BusyBox")
    expect_lines(run, "entrypoint-cleared", "wait-for-it image without its entrypoint")
    expect_lines(run, "entrypoint-wrapper", "entrypoint ran with 3 args", "default before_script ran",
                 "job script after the entrypoint")
    expect_lines(run, "debian-image", "bash 5 on Debian 12")
    expect_lines(run, "scripts-order", "job before_script", "script sees FROM_BEFORE=yes",
                 "after_script status=success FROM_SCRIPT=unset file=kept")
    expect_absent(run, "scripts-order", "default before_script ran")
    expect_lines(run, "after-failure", "about to fail", "after_script status=failed")
    expect_absent(run, "after-failure", "never printed")
    assert re.search(r"^after-failure .*WARN 7\b", run.stderr, re.M), run
    expect_lines(run, "allowed-exit-code", "exiting 42")
    assert re.search(r"^allowed-exit-code .*WARN 42\b", run.stderr, re.M), run
    expect_lines(run, "rules-match", "RULE_VAR=staging-rule")
    expect_lines(run, "extended", "template before_script", "GREETING=hello-from-template BASE=base-value OWN=own-value")
    expect_absent(run, "extended", "default before_script ran")
    expect_lines(run, "included-job", "included job ran")
    for job in MATRIX:
        os_, arch = job[len("matrix: ["):-1].split(",")
        assert run.job(job) == [f"matrix OS={os_} ARCH={arch}"], run
    # The large log, whole and in order, on the console and in the job's log file.
    want = [f"log line {i}" for i in range(1, 30001)] + ["x" * 65536, "large-log done"]
    assert run.job("large-log") == want, f"{len(run.job('large-log'))} lines\n{run.stderr[-4000:]}"
    logged = [line for line in run.log_file("large-log").splitlines() if not line.startswith("$ ")]
    assert logged[-len(want):] == want


@pytest.mark.timeout(600)
def test_artifacts_and_cache(tools, daemon, gcl_tmp):
    run = run_pipeline(tools, daemon, gcl_tmp, "artifacts")
    assert run.returncode == 0, run
    expect_report(run, passed=["producer", "other-producer", "consumer", "no-deps", "all-deps"],
                  warned=["always-artifacts"])
    expect_lines(run, "consumer", "artifact one", "artifact nested", "scratch not passed on",
                 "other-producer's artifacts not needed here", "BUILD_VERSION=1.2.3")
    expect_lines(run, "no-deps", "no artifacts with dependencies []", "cached content other-producer")
    expect_lines(run, "all-deps", "artifact one", "other artifact", "kept despite failure")
    # gitlab-ci-local copies artifacts back into the project and keeps the cache beside it.
    assert (run.work / "out" / "nested" / "two.txt").read_text() == "artifact nested\n"
    assert not (run.work / "scratch.txt").exists()
    cached = run.work / ".gitlab-ci-local" / "cache" / "suite-cache" / "cached" / "data.txt"
    assert cached.read_text() == "cached content other-producer\n"


@pytest.mark.timeout(600)
def test_services(tools, daemon, gcl_tmp):
    run = run_pipeline(tools, daemon, gcl_tmp, "services")
    assert run.returncode == 0, run
    expect_report(run, passed=["http-service", "exposed-service", "two-services"])
    expect_lines(run, "http-service", "served by the-web-service", "by image name: served by the-web-service")
    assert re.search(r"^http-service started service image: busybox:latest with aliases: web, busybox in ",
                     run.stdout, re.M), run
    expect_lines(run, "exposed-service", "served-by-exposed")
    assert re.search(r"^exposed-service service image: gcl-exposed:latest healthcheck passed in ",
                     run.stdout, re.M), run
    expect_lines(run, "two-services", "nc got tcp-hello", "second: served-by-exposed")


@pytest.mark.timeout(600)
def test_failures(tools, daemon, gcl_tmp):
    run = run_pipeline(tools, daemon, gcl_tmp, "failures")
    assert run.returncode == 1, run
    expect_report(run, passed=["passes", "on-failure", "always"],
                  failed=["exit-code", "failed-command", "failed-pipe", "not-allowed-exit-code"],
                  not_run=["later-stage"])
    expect_lines(run, "exit-code", "exiting 3", "after_script after exit 3 status=failed")
    assert re.search(r"^exit-code .*FAIL 3\b", run.stderr, re.M), run
    expect_lines(run, "failed-command", "before the failing command")
    expect_absent(run, "failed-command", "never printed after false")
    expect_absent(run, "failed-pipe", "never printed after the pipe")
    assert re.search(r"^failed-pipe .*FAIL 1\b", run.stderr, re.M), run
    assert re.search(r"^not-allowed-exit-code .*FAIL 5\b", run.stderr, re.M), run
    expect_lines(run, "passes", "this one passes")
    expect_lines(run, "on-failure", "on_failure job ran after the failures")
    expect_lines(run, "always", "when always ran")

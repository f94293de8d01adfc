"""Containers on the memory backend, driven by the docker CLI and the Python SDK, beside
the reference dockerd where the behaviour is compared."""

from __future__ import annotations

import json
import random
import subprocess
import time

import pytest

from harness import BACKEND, wait_until


@pytest.fixture(autouse=True)
def no_leftover_containers(sockerlessd):
    """Whatever a test leaves behind (also when it fails) is removed before the next."""
    yield
    ids = sockerlessd.docker("ps", "-aq").stdout.split()
    if ids:
        sockerlessd.docker("rm", "-f", *ids, timeout=60)


def run(d, *args, timeout=30, input=None):
    return d.docker("run", *args, timeout=timeout, input=input)


def test_run_prints_output_and_exit_code(sockerlessd, busybox):
    r = run(sockerlessd, "--rm", busybox, "echo", "hello from sockerless")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello from sockerless\n"
    r = run(sockerlessd, "--rm", busybox, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert r.returncode == 3
    assert r.stdout == "out\n"
    assert r.stderr == "err\n"


@pytest.mark.parametrize("signal,extra,code", [("KILL", [], 137), ("TERM", ["--init"], 143)])
def test_exit_codes_from_signals(sockerlessd, busybox, signal, extra, code):
    # PID 1 of a namespace ignores signals it has no handler for (SIGKILL aside), as in
    # Docker: TERM needs --init's PID 1 to forward it to the sleeping process.
    cid = run(sockerlessd, "-d", *extra, busybox, "sleep", "60").stdout.strip()
    assert sockerlessd.docker("kill", "-s", signal, cid).returncode == 0
    assert sockerlessd.docker("wait", cid).stdout.strip() == str(code)
    sockerlessd.docker("rm", cid)


def test_env_workdir_user_entrypoint_hostname(sockerlessd, busybox):
    r = run(sockerlessd, "--rm", "-e", "GREETING=hi there", "-w", "/tmp/work", "-u", "1000:1000",
            "--hostname", "box", busybox, "sh", "-c", 'echo "$GREETING|$(pwd)|$(id -u):$(id -g)|$(hostname)"')
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hi there|/tmp/work|1000:1000|box\n"
    r = run(sockerlessd, "--rm", "--entrypoint", "echo", busybox, "a", "b")
    assert r.stdout == "a b\n"


def test_missing_command_is_127(sockerlessd, busybox):
    r = run(sockerlessd, "--rm", busybox, "definitely-not-a-command")
    assert r.returncode == 127, (r.stdout, r.stderr)
    assert "executable file not found" in r.stderr


def test_stdin_piped_through_run_i(sockerlessd, busybox):
    text = "".join(f"line {i}\n" for i in range(1000))
    r = run(sockerlessd, "--rm", "-i", busybox, "wc", "-l", input=text)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1000"


def test_detached_logs_stop_and_rm(sockerlessd, busybox):
    r = run(sockerlessd, "-d", "--name", "ticker", busybox, "sh", "-c",
            'trap "echo got TERM; exit 0" TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done')
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    assert len(cid) == 64
    time.sleep(0.5)
    ps = sockerlessd.docker("ps", "--format", "{{.Names}} {{.Status}}")
    assert "ticker Up" in ps.stdout
    logs = sockerlessd.docker("logs", "ticker")
    assert "tick 0\n" in logs.stdout
    conflict = run(sockerlessd, "-d", "--name", "ticker", busybox, "true")
    assert conflict.returncode != 0
    assert 'The container name "/ticker" is already in use' in conflict.stderr
    stop = sockerlessd.docker("stop", "-t", "5", "ticker")
    assert stop.returncode == 0, stop.stderr
    inspect = json.loads(sockerlessd.docker("inspect", "ticker").stdout)[0]
    assert inspect["State"]["Status"] == "exited"
    assert inspect["State"]["ExitCode"] == 0
    assert "got TERM" in sockerlessd.docker("logs", "--tail", "1", "ticker").stdout
    rm = sockerlessd.docker("rm", "ticker")
    assert rm.returncode == 0, rm.stderr
    assert sockerlessd.docker("inspect", "ticker").returncode != 0


def test_logs_follow_ends_with_the_container(sockerlessd, busybox):
    cid = run(sockerlessd, "-d", busybox, "sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.2; done").stdout.strip()
    r = sockerlessd.docker("logs", "-f", cid, timeout=20)
    assert r.stdout == "1\n2\n3\n"
    sockerlessd.docker("rm", cid)


def test_kill_and_wait(sockerlessd, busybox):
    cid = run(sockerlessd, "-d", busybox, "sh", "-c", 'trap "exit 5" USR1; while true; do sleep 0.1; done').stdout.strip()
    r = sockerlessd.docker("kill", "-s", "USR1", cid)
    assert r.returncode == 0, r.stderr
    w = sockerlessd.docker("wait", cid)
    assert w.stdout.strip() == "5"
    r = sockerlessd.docker("kill", cid)
    assert r.returncode != 0
    assert "is not running" in r.stderr
    sockerlessd.docker("rm", cid)


def test_rm_running_needs_force(sockerlessd, busybox):
    cid = run(sockerlessd, "-d", busybox, "sleep", "60").stdout.strip()
    r = sockerlessd.docker("rm", cid)
    assert r.returncode != 0
    assert "You cannot remove a running container" in r.stderr
    r = sockerlessd.docker("rm", "-f", cid)
    assert r.returncode == 0, r.stderr
    assert sockerlessd.docker("ps", "-aq").stdout.strip() == ""


def test_rm_f_of_a_running_auto_remove_container_answers_once_it_is_gone(sockerlessd, busybox):
    """`rm -f` of a running --rm container: the kill ends it and its auto-removal may begin
    before the rm's own; either way the rm answers only once the container is gone, as
    dockerd's does, so its name is free (Testcontainers for Python removes its reaper so and
    starts the next one under the same name). It answered while the container was still
    "removing"."""
    for i in range(40):  # a race: each round catches it about one time in ten
        cid = run(sockerlessd, "-d", "--rm", "-p", "8080", "--name", "rm-f-auto-remove", busybox, "sleep", "60").stdout.strip()
        assert cid, i
        r = sockerlessd.docker("rm", "-f", cid)
        assert r.returncode == 0, r.stderr
        r = sockerlessd.docker("container", "inspect", "--format", "{{.State.Status}}", cid)
        assert r.returncode != 0 and "No such container" in r.stderr, (i, r.stdout, r.stderr)


def test_ps_filters_and_rename(sockerlessd, busybox):
    a = run(sockerlessd, "--name", "first", "--label", "team=a", busybox, "true").stdout
    b = run(sockerlessd, "--name", "second", busybox, "sh", "-c", "exit 2").stdout
    assert a == "" and b == ""
    names = sockerlessd.docker("ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert set(names) >= {"first", "second"}
    assert sockerlessd.docker("ps", "-a", "--filter", "exited=2", "--format", "{{.Names}}").stdout.split() == ["second"]
    assert sockerlessd.docker("ps", "-a", "--filter", "label=team=a", "--format", "{{.Names}}").stdout.split() == ["first"]
    assert sockerlessd.docker("ps", "--format", "{{.Names}}").stdout.split() == []
    assert sockerlessd.docker("rename", "first", "renamed").returncode == 0
    assert "renamed" in sockerlessd.docker("ps", "-a", "--format", "{{.Names}}").stdout.split()
    sockerlessd.docker("rm", "renamed", "second")


def test_rmi_refuses_an_image_in_use(sockerlessd, busybox):
    cid = run(sockerlessd, "-d", busybox, "sleep", "60").stdout.strip()
    image_id = json.loads(sockerlessd.docker("inspect", cid).stdout)[0]["Image"]
    r = sockerlessd.docker("rmi", image_id)
    assert r.returncode != 0
    assert "image is being used by running container" in r.stderr
    sockerlessd.docker("rm", "-f", cid)


def test_sdk_container_lifecycle(sockerlessd, busybox):
    client = sockerlessd.client()
    out = client.containers.run(busybox, ["sh", "-c", "echo sdk"], remove=True)
    assert out == b"sdk\n"
    c = client.containers.run(busybox, ["sleep", "30"], detach=True, name="sdk-box")
    c.reload()
    assert c.status == "running"
    assert c.attrs["Config"]["Cmd"] == ["sleep", "30"]
    c.stop(timeout=1)
    c.reload()
    assert c.status == "exited"
    assert c.wait()["StatusCode"] in (137, 143)
    c.remove()
    assert client.containers.list(all=True, filters={"name": "sdk-box"}) == []


def test_no_stray_processes_after_removal(sockerlessd, busybox):
    # A duration of its own: nothing else on the machine runs this command line.
    marker = f"sleep {random.randint(10**6, 10**7)}"
    cid = run(sockerlessd, "-d", busybox, "sh", "-c", f"{marker} & {marker}").stdout.strip()
    pid = json.loads(sockerlessd.docker("inspect", cid).stdout)[0]["State"]["Pid"]
    assert pid > 0
    sockerlessd.docker("rm", "-f", cid)

    def strays() -> bool:
        out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        return marker in out

    # dockerd 20.10's rm -f can answer before the kernel has reaped the orphan of the
    # container's pid namespace (seen once in CI); so, once, could sockerless's (CI at
    # 0ec1702, unexplained: the answer waits for the monitor to see the container's init
    # reaped, which the kernel does only after the rest of its pid namespace). Either way
    # nothing may be left moments later.
    wait_until(lambda: not strays(), timeout=5, what="the container's processes to go")
    mounts = open("/proc/self/mountinfo").read()
    assert cid not in mounts


def test_exec_output_exit_code_stdin_user(sockerlessd, busybox):
    cid = run(sockerlessd, "-d", "--name", "exec-box", busybox, "sleep", "60").stdout.strip()
    r = sockerlessd.docker("exec", "exec-box", "sh", "-c", "echo out; echo err >&2; exit 4")
    assert (r.returncode, r.stdout, r.stderr) == (4, "out\n", "err\n")
    r = sockerlessd.docker("exec", "-i", "exec-box", "cat", input="through stdin\n")
    assert r.stdout == "through stdin\n"
    r = sockerlessd.docker("exec", "-u", "1000", "-w", "/tmp", "-e", "A=b", "exec-box", "sh", "-c", 'echo "$(id -u) $(pwd) $A"')
    assert r.stdout == "1000 /tmp b\n"
    r = sockerlessd.docker("exec", "exec-box", "no-such-command")
    # 127 as moby >= 23 answers; through the docker backend, the harness's dockerd 20.10: 126
    assert r.returncode == (126 if BACKEND == "docker" else 127)
    assert "executable file not found" in (r.stdout + r.stderr)
    assert sockerlessd.docker("exec", "-d", "exec-box", "sh", "-c", "echo made > /tmp/made").returncode == 0
    time.sleep(0.5)
    assert sockerlessd.docker("exec", "exec-box", "cat", "/tmp/made").stdout == "made\n"
    # The exec sees the container's processes: its own pid namespace.
    ps = sockerlessd.docker("exec", "exec-box", "ps", "-o", "pid,comm").stdout
    assert "sleep" in ps
    sockerlessd.docker("rm", "-f", cid)


def test_exec_on_stopped_container_is_409(sockerlessd, busybox):
    cid = run(sockerlessd, "-d", busybox, "true").stdout.strip()
    sockerlessd.docker("wait", cid)
    r = sockerlessd.docker("exec", cid, "true")
    assert r.returncode != 0
    assert "is not running" in r.stderr
    sockerlessd.docker("rm", cid)


def test_sdk_exec_run(sockerlessd, busybox):
    client = sockerlessd.client()
    c = client.containers.run(busybox, ["sleep", "60"], detach=True)
    code, out = c.exec_run(["sh", "-c", "echo sdk-exec; exit 3"])
    assert (code, out) == (3, b"sdk-exec\n")
    code, (out, err) = c.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
    assert (code, out, err) == (0, b"o\n", b"e\n")
    c.remove(force=True)


def test_pause_freezes_and_top_lists(sockerlessd, busybox):
    cid = run(sockerlessd, "-d", busybox, "sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done").stdout.strip()
    time.sleep(0.5)
    top = sockerlessd.docker("top", cid)
    assert top.returncode == 0, top.stderr
    assert "PID" in top.stdout.splitlines()[0] and "sleep" in top.stdout or "sh -c" in top.stdout
    assert sockerlessd.docker("pause", cid).returncode == 0
    assert json.loads(sockerlessd.docker("inspect", cid).stdout)[0]["State"]["Status"] == "paused"
    state_dir = f"{sockerlessd.data_root}/memory/containers/{cid}"
    before = sockerlessd.docker("ps", "--filter", "status=paused", "-q").stdout.split()
    assert cid[:12] in before
    assert sockerlessd.docker("pause", cid).returncode != 0  # already paused: 409
    assert sockerlessd.docker("unpause", cid).returncode == 0
    assert json.loads(sockerlessd.docker("inspect", cid).stdout)[0]["State"]["Status"] == "running"
    assert state_dir  # the state dir path is where the sandbox keeps its files
    sockerlessd.docker("rm", "-f", cid)


def test_restart_on_failure_counts(sockerlessd, busybox):
    cid = run(sockerlessd, "-d", "--restart", "on-failure:2", busybox, "sh", "-c", "echo run; exit 3").stdout.strip()
    deadline = time.time() + 15
    while time.time() < deadline:
        doc = json.loads(sockerlessd.docker("inspect", cid).stdout)[0]
        if doc["State"]["Status"] == "exited" and doc["RestartCount"] == 2:
            break
        time.sleep(0.2)
    assert doc["RestartCount"] == 2, doc["State"]
    assert doc["State"]["ExitCode"] == 3
    assert sockerlessd.docker("logs", cid).stdout == "run\nrun\nrun\n"
    sockerlessd.docker("rm", "-f", cid)


def test_restart_always_stops_when_stopped(sockerlessd, busybox):
    cid = run(sockerlessd, "-d", "--restart", "always", busybox, "sh", "-c", "sleep 0.2; exit 0").stdout.strip()
    time.sleep(1.5)
    doc = json.loads(sockerlessd.docker("inspect", cid).stdout)[0]
    assert doc["RestartCount"] >= 1
    assert sockerlessd.docker("stop", "-t", "1", cid).returncode == 0
    time.sleep(0.5)
    doc = json.loads(sockerlessd.docker("inspect", cid).stdout)[0]
    count = doc["RestartCount"]
    time.sleep(1)
    doc = json.loads(sockerlessd.docker("inspect", cid).stdout)[0]
    assert doc["State"]["Status"] == "exited" and doc["RestartCount"] == count
    sockerlessd.docker("rm", "-f", cid)


def test_many_containers_concurrently_leave_nothing_behind(sockerlessd, busybox):
    """200 containers created, started, waited for and removed from 16 threads: every
    one prints its own output, and afterwards no monitor, mount or cgroup is left."""
    import concurrent.futures
    import glob

    client = sockerlessd.client()

    def one(i):
        c = client.containers.run(busybox, ["sh", "-c", f"echo {i}"], detach=True)
        code = c.wait()["StatusCode"]
        out = c.logs()
        c.remove()
        return code, out, c.id

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(200)))
    assert [(code, out) for code, out, _ in results] == [(0, f"{i}\n".encode()) for i in range(200)]
    assert client.containers.list(all=True) == []
    ids = {cid for _, _, cid in results}
    mounts = open("/proc/self/mountinfo").read()
    assert not [i for i in ids if i in mounts]
    monitors = subprocess.run(["pgrep", "-f", f"sockerlessd monitor {sockerlessd.data_root}"],
                              capture_output=True, text=True).stdout.split()
    assert monitors == []
    leftover = [p for p in glob.glob("/sys/fs/cgroup/*/sockerless/*") if p.rsplit("/", 1)[-1] in ids]
    assert leftover == []


def test_health_checks_reach_healthy_and_unhealthy(sockerlessd, busybox):
    good = run(sockerlessd, "-d", "--health-cmd", "test -f /tmp/ok", "--health-interval", "200ms",
               "--health-retries", "2", busybox, "sh", "-c", "touch /tmp/ok; sleep 60").stdout.strip()
    bad = run(sockerlessd, "-d", "--health-cmd", "exit 1", "--health-interval", "200ms",
              "--health-retries", "2", busybox, "sleep", "60").stdout.strip()
    deadline = time.time() + 10
    states = {}
    while time.time() < deadline:
        states = {cid: json.loads(sockerlessd.docker("inspect", cid).stdout)[0]["State"].get("Health", {}).get("Status")
                  for cid in (good, bad)}
        if states == {good: "healthy", bad: "unhealthy"}:
            break
        time.sleep(0.2)
    assert states == {good: "healthy", bad: "unhealthy"}
    doc = json.loads(sockerlessd.docker("inspect", bad).stdout)[0]["State"]["Health"]
    assert doc["FailingStreak"] >= 2 and doc["Log"][-1]["ExitCode"] == 1
    assert "(healthy)" in sockerlessd.docker("ps", "--filter", f"id={good}", "--format", "{{.Status}}").stdout
    assert sockerlessd.docker("ps", "-q", "--filter", "health=unhealthy").stdout.split() == [bad[:12]]
    sockerlessd.docker("rm", "-f", good, bad)


def test_cp_into_created_running_and_stopped(sockerlessd, busybox, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("hello\n")
    (src / "sub" / "b.txt").write_text("deep\n")
    cid = sockerlessd.docker("create", busybox, "sh", "-c", "cat /tmp/src/a.txt /tmp/src/sub/b.txt").stdout.strip()
    r = sockerlessd.docker("cp", str(src), f"{cid}:/tmp/")
    assert r.returncode == 0, r.stderr
    r = sockerlessd.docker("start", "-a", cid)
    assert r.stdout == "hello\ndeep\n"
    # Out of a stopped container, a file and a directory.
    r = sockerlessd.docker("cp", f"{cid}:/tmp/src/a.txt", str(tmp_path / "a.out"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "a.out").read_text() == "hello\n"
    r = sockerlessd.docker("cp", f"{cid}:/tmp/src", str(tmp_path / "copied"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "copied" / "sub" / "b.txt").read_text() == "deep\n"
    # A running container.
    run_id = run(sockerlessd, "-d", busybox, "sh", "-c", "echo made > /tmp/made; sleep 60").stdout.strip()
    time.sleep(0.3)
    assert sockerlessd.docker("cp", f"{run_id}:/tmp/made", str(tmp_path / "made")).returncode == 0
    assert (tmp_path / "made").read_text() == "made\n"
    assert sockerlessd.docker("cp", str(src / "a.txt"), f"{run_id}:/etc/").returncode == 0
    assert sockerlessd.docker("exec", run_id, "cat", "/etc/a.txt").stdout == "hello\n"
    missing = sockerlessd.docker("cp", f"{run_id}:/nope", str(tmp_path / "x"))
    assert missing.returncode != 0
    assert "Could not find the file /nope in container" in missing.stderr
    sockerlessd.docker("rm", "-f", cid, run_id)


@pytest.mark.backends("memory", reason="a documented difference: sockerless refuses escaping archives whole with 400")
def test_cp_refuses_archives_that_escape(sockerlessd, busybox, tmp_path):
    import io
    import tarfile

    cid = run(sockerlessd, "-d", busybox, "sleep", "60").stdout.strip()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        # A harmless entry first: nothing at all may be written when a later one escapes.
        for name, data in (("first-entry", b"ok"), ("../../escaped-by-sockerless-test", b"escaped")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    r = sockerlessd.raw("PUT", f"/containers/{cid}/archive?path=/tmp", body=buf.getvalue(),
                        headers={"Content-Type": "application/x-tar"})
    assert r.status == 400, r
    assert not any(p.name == "escaped-by-sockerless-test" for p in tmp_path.parent.iterdir())
    import os
    assert not os.path.exists("/escaped-by-sockerless-test")
    assert sockerlessd.docker("exec", cid, "ls", "/tmp").stdout.split() == []
    sockerlessd.docker("rm", "-f", cid)


def test_volumes_and_bind_mounts(sockerlessd, busybox, tmp_path):
    assert sockerlessd.docker("volume", "create", "--label", "team=a", "data").stdout.strip() == "data"
    # create is idempotent, as with dockerd
    assert sockerlessd.docker("volume", "create", "data").returncode == 0
    r = run(sockerlessd, "--rm", "-v", "data:/data", busybox, "sh", "-c", "echo persisted > /data/x")
    assert r.returncode == 0, r.stderr
    r = run(sockerlessd, "--rm", "-v", "data:/data:ro", busybox, "sh", "-c", "cat /data/x; touch /data/y")
    assert r.stdout == "persisted\n" and r.returncode != 0
    host = tmp_path / "host"
    host.mkdir()
    (host / "f").write_text("from host\n")
    r = run(sockerlessd, "--rm", "-v", f"{host}:/h", busybox, "sh", "-c", "cat /h/f; echo back > /h/g")
    assert r.stdout == "from host\n"
    assert (host / "g").read_text() == "back\n"
    r = run(sockerlessd, "--rm", "--mount", "type=tmpfs,target=/t", busybox, "sh", "-c", "grep ' /t ' /proc/mounts")
    assert "tmpfs" in r.stdout
    cid = run(sockerlessd, "-d", "-v", "data:/data", busybox, "sleep", "30").stdout.strip()
    r = sockerlessd.docker("volume", "rm", "data")
    assert r.returncode != 0 and "volume is in use" in r.stderr
    mounts = json.loads(sockerlessd.docker("inspect", cid).stdout)[0]["Mounts"]
    assert mounts[0]["Type"] == "volume" and mounts[0]["Name"] == "data" and mounts[0]["Destination"] == "/data"
    sockerlessd.docker("rm", "-f", cid)
    assert sockerlessd.docker("volume", "ls", "--filter", "label=team=a", "-q").stdout.split() == ["data"]
    assert sockerlessd.docker("volume", "rm", "data").returncode == 0
    assert sockerlessd.docker("volume", "inspect", "data").returncode != 0


def test_anonymous_volumes_go_with_rm_v(sockerlessd, busybox):
    before = set(sockerlessd.docker("volume", "ls", "-q").stdout.split())
    cid = run(sockerlessd, "-d", "-v", "/scratch", busybox, "sleep", "30").stdout.strip()
    created = set(sockerlessd.docker("volume", "ls", "-q").stdout.split()) - before
    assert len(created) == 1
    sockerlessd.docker("rm", "-fv", cid)
    assert set(sockerlessd.docker("volume", "ls", "-q").stdout.split()) == before
    cid = run(sockerlessd, "-d", "-v", "/scratch", busybox, "sleep", "30").stdout.strip()
    sockerlessd.docker("rm", "-f", cid)
    r = sockerlessd.docker("volume", "prune", "-f")
    assert r.returncode == 0
    assert set(sockerlessd.docker("volume", "ls", "-q").stdout.split()) == before


def test_export_is_the_root_filesystem(sockerlessd, busybox):
    cid = run(sockerlessd, "-d", busybox, "sh", "-c", "echo exported > /tmp/mark; sleep 30").stdout.strip()
    time.sleep(0.3)
    out = subprocess.run(["docker", "-H", sockerlessd.host, "export", cid], capture_output=True,
                         env={"DOCKER_CONFIG": "/nonexistent", "PATH": "/usr/local/bin:/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    import io
    import tarfile
    names = tarfile.open(fileobj=io.BytesIO(out.stdout)).getnames()
    assert "bin/busybox" in names and "tmp/mark" in names
    sockerlessd.docker("rm", "-f", cid)


def test_stats_no_stream_reports_cgroup_usage(sockerlessd, busybox):
    cid = run(sockerlessd, "-d", "-m", "64m", busybox, "sh", "-c", "while true; do :; done").stdout.strip()
    time.sleep(0.5)
    r = sockerlessd.docker("stats", "--no-stream", "--format", "{{.CPUPerc}} {{.MemUsage}} {{.PIDs}}", cid, timeout=30)
    assert r.returncode == 0, r.stderr
    cpu, mem = r.stdout.split()[0], r.stdout.split(" / ")[1]
    assert float(cpu.rstrip("%")) > 20  # a busy loop
    assert mem.startswith("64MiB")
    doc = sockerlessd.client().api.stats(cid, stream=False)
    assert doc["memory_stats"]["limit"] == 64 * 1024 * 1024
    assert doc["cpu_stats"]["cpu_usage"]["total_usage"] > doc["precpu_stats"]["cpu_usage"]["total_usage"] > 0
    sockerlessd.docker("rm", "-f", cid)


def test_container_prune_removes_stopped_only(sockerlessd, busybox):
    running = run(sockerlessd, "-d", busybox, "sleep", "30").stdout.strip()
    stopped = run(sockerlessd, "-d", "--label", "keep=no", busybox, "true").stdout.strip()
    kept = run(sockerlessd, "-d", "--label", "keep=yes", busybox, "true").stdout.strip()
    sockerlessd.docker("wait", stopped, kept)
    r = sockerlessd.docker("container", "prune", "-f", "--filter", "label=keep=no")
    assert r.returncode == 0, r.stderr
    assert stopped in r.stdout
    left = sockerlessd.docker("ps", "-aq", "--no-trunc").stdout.split()
    assert set(left) == {running, kept}
    sockerlessd.docker("rm", "-f", running, kept)


def test_diff_lists_added_changed_deleted(sockerlessd, busybox):
    cid = run(sockerlessd, "-d", busybox, "sh", "-c",
              "echo x > /tmp/new; rm /etc/group; echo y >> /etc/passwd; mkdir /made; sleep 30").stdout.strip()
    time.sleep(0.5)
    r = sockerlessd.docker("diff", cid)
    assert r.returncode == 0, r.stderr
    # (sockerless sorts; dockerd lists in its own walk order)
    assert sorted(r.stdout.splitlines()) == ["A /made", "A /tmp/new", "C /etc", "C /etc/passwd",
                                             "C /tmp", "D /etc/group"]
    sockerlessd.docker("rm", "-f", cid)


# --------------------------------------------------- issue 16: what a client's suite found


def group_add_scenario(d, img):
    """What `id` shows with --group-add (a gid and a name from the image's /etc/group) in
    the command and in execs, as root and as another user; and an unknown group."""
    seen = {}
    ga = ["--group-add", "1234", "--group-add", "staff"]
    seen["run"] = d.docker("run", "--rm", *ga, img, "id", "-G").stdout
    seen["run -u"] = d.docker("run", "--rm", *ga, "-u", "1000:1000", img, "id", "-G").stdout
    seen["run -u app"] = d.docker("run", "--rm", *ga, "-u", "app", img, "id", "-G").stdout
    cid = d.docker("run", "-d", *ga, img, "sleep", "60").stdout.strip()
    try:
        seen["exec"] = d.docker("exec", cid, "id", "-G").stdout
        seen["exec -u"] = d.docker("exec", "-u", "nobody", cid, "id", "-G").stdout
        seen["exec -u app"] = d.docker("exec", "-u", "app", cid, "id", "-G").stdout
    finally:
        d.docker("rm", "-f", cid)
    r = d.docker("run", "--rm", "--group-add", "nosuchgroup", img, "true")
    seen["unknown"] = (r.returncode, "Unable to find group nosuchgroup: no matching entries in "
                                     "group file" in r.stderr)
    return seen


def test_group_add_numeric_and_named(pair):
    got = {name: group_add_scenario(pair[name], pair["image"]) for name in ("sockerlessd", "dockerd")}
    assert got["sockerlessd"] == got["dockerd"]
    assert set(got["sockerlessd"]["run"].split()) >= {"0", "1234", "50"}
    assert set(got["sockerlessd"]["run -u"].split()) >= {"1000", "1234", "50"}
    assert set(got["sockerlessd"]["exec -u"].split()) >= {"65534", "1234", "50"}
    assert got["sockerlessd"]["unknown"][1]


def test_container_prune_reports_the_space_reclaimed(target):
    """SpaceReclaimed: the removed containers' writable layers, files counted once."""
    d, img = target
    d.docker("container", "prune", "-f")
    for name, size in (("prune-a", 100000), ("prune-b", 50000)):
        r = d.docker("run", "--name", name, img, "sh", "-c",
                     f"head -c {size} /dev/zero > /big; ln /big /big-link")
        assert r.returncode == 0, (d.name, r.stderr)
    keep = d.docker("run", "-d", img, "sleep", "60").stdout.strip()
    r = d.raw("POST", "/v1.41/containers/prune")
    assert r.status == 200, r
    doc = r.json()
    assert keep not in doc["ContainersDeleted"]
    assert len(doc["ContainersDeleted"]) == 2
    # Each file once (the hard link adds nothing); shells may leave small files beside.
    assert 150000 <= doc["SpaceReclaimed"] < 150000 + 4096, (d.name, doc)
    assert d.raw("POST", "/v1.41/containers/prune").json() == {
        "ContainersDeleted": None, "SpaceReclaimed": 0}
    d.docker("rm", "-f", keep)


def test_commit_with_pause_of_an_exited_container(target):
    """pause=true (the default) applies to a running container only: an exited one, or one
    whose command ends while the commit runs, commits all the same."""
    d, img = target
    cid = d.docker("run", "-d", img, "sh", "-c", "echo hi > /made").stdout.strip()
    d.docker("wait", cid)
    r = d.raw("POST", f"/v1.41/commit?container={cid}&pause=true")
    assert r.status == 201, (d.name, r)
    image = r.json()["Id"]
    assert d.docker("run", "--rm", image, "cat", "/made").stdout == "hi\n"
    images = [image]
    for _ in range(3):
        cid = d.docker("run", "-d", img, "touch", "/quick").stdout.strip()
        r = d.raw("POST", f"/v1.41/commit?container={cid}&pause=true")
        assert r.status == 201, (d.name, r)
        images.append(r.json()["Id"])
    d.docker("rm", "-f", *d.docker("ps", "-aq").stdout.split())
    d.docker("rmi", *images)


def test_exec_in_a_missing_working_directory_is_126(target):
    """An exec whose working directory does not exist could not start: 126, as for any
    start failure but a missing program (127) -- CI runners read 127 as "command not
    found" (act did, for a step's missing working-directory)."""
    d, img = target
    cid = d.docker("run", "-d", img, "sleep", "60").stdout.strip()
    r = d.docker("exec", "-w", "/no/such/dir", cid, "true")
    assert r.returncode == 126, (d.name, r.returncode, r.stderr)
    said = r.stdout + r.stderr  # the CLI prints an exec's start failure on its stdout
    assert 'unable to start container process: chdir to cwd ("/no/such/dir") set in ' \
        'config.json failed: no such file or directory' in said, (d.name, said)
    r = d.docker("exec", cid, "no-such-program")
    assert r.returncode in (126, 127) if d.name == "dockerd" or BACKEND == "docker" \
        else r.returncode == 127, (d.name, r.returncode)

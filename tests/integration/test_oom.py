"""Out-of-memory kills (issue 4): when the kernel's OOM killer kills a process in a
container's memory cgroup, inspect says State.OOMKilled and an `oom` event comes before
the `die`, on sockerless as on the reference dockerd. Each scenario runs on both engines
(`target`); an engine whose host gives it no memory cgroup (docker info MemoryLimit
false) skips it.

Measured on dockerd 20.10 (cgroup v1 host):
  run -m 8m --memory-swap 8m busybox tail /dev/zero    → exit 137, OOMKilled true,
                                                          events create … start oom die
  the same container started again, not killed          → OOMKilled false again
  a shell whose child is OOM-killed, exiting 0          → exit 0, OOMKilled true (racy)
"""

from __future__ import annotations

import time

import pytest

from harness import json_lines, wait_until

LIMIT = ["-m", "8m", "--memory-swap", "8m"]  # no swap to grow into


@pytest.fixture
def oom_target(target):
    d, img = target
    if d.docker("info", "--format", "{{.MemoryLimit}}").stdout.strip() != "true":
        pytest.skip(f"{d.name} has no memory cgroup on this host")
    return d, img


def state(d, name):
    r = d.docker("inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", name)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def actions(d, name, since):
    """The container's event actions since `since`, once its `die` is in."""
    found: list[str] = []

    def died():
        until = int(time.time())
        r = d.docker("events", "--since", str(since), "--until", str(until),
                     "--filter", f"container={name}", "--format", "{{json .}}", timeout=20)
        assert r.returncode == 0, r.stderr
        found[:] = [e["Action"] for e in json_lines(r.stdout)]
        return "die" in found

    wait_until(died, timeout=10, interval=0.5, what=f"the die event of {name}")
    return found


def test_oom_killed_main_process(oom_target):
    d, img = oom_target
    since = int(time.time()) - 1
    r = d.docker("run", "--name", "oom-main", *LIMIT, img, "tail", "/dev/zero", timeout=60)
    assert r.returncode == 137, (r.stdout, r.stderr)
    assert state(d, "oom-main") == "true 137"
    got = actions(d, "oom-main", since)
    assert "oom" in got, got
    assert got.index("oom") < got.index("die"), got
    ev = json_lines(d.docker("events", "--since", str(since), "--until", str(int(time.time())),
                             "--filter", "event=oom", "--filter", "container=oom-main",
                             "--format", "{{json .}}").stdout)
    assert ev and ev[0]["Actor"]["Attributes"]["name"] == "oom-main", ev
    assert ev[0]["Actor"]["Attributes"]["image"] == img, ev


def test_oom_killed_is_reset_by_the_next_start(oom_target):
    d, img = oom_target
    since = int(time.time()) - 1
    script = "if [ -e /ran ]; then exit 0; fi; touch /ran; tail /dev/zero"
    r = d.docker("run", "--name", "oom-again", *LIMIT, img, "sh", "-c", script, timeout=60)
    assert r.returncode == 137, (r.stdout, r.stderr)
    assert state(d, "oom-again") == "true 137"
    r = d.docker("start", "-a", "oom-again", timeout=60)
    assert r.returncode == 0, r.stderr
    assert state(d, "oom-again") == "false 0"
    wait_until(lambda: actions(d, "oom-again", since).count("die") == 2, timeout=10,
               what="the second die event")
    got = actions(d, "oom-again", since)
    second_run = got[len(got) - got[::-1].index("start"):]
    assert got.count("oom") == 1 and "oom" not in second_run, got


def test_oom_killed_child_of_a_surviving_process(oom_target):
    """The kill of any process in the cgroup counts, even when the main one exits 0. On
    dockerd that holds only when containerd's OOM event beats the exit (usually: seen
    false once in a dozen runs); sockerless reads the cgroup's count, so always."""
    d, img = oom_target
    r = d.docker("run", "--name", "oom-child", *LIMIT, img, "sh", "-c",
                 "tail /dev/zero; echo survived", timeout=60)
    assert (r.returncode, r.stdout) == (0, "survived\n"), r.stderr
    assert state(d, "oom-child") in (("true 0",) if d.name == "sockerlessd" else
                                     ("true 0", "false 0"))


def test_no_oom_without_a_kill(oom_target):
    d, img = oom_target
    since = int(time.time()) - 1
    r = d.docker("run", "--name", "no-oom", *LIMIT, img, "sh", "-c", "exit 3", timeout=60)
    assert r.returncode == 3
    assert state(d, "no-oom") == "false 3"
    assert "oom" not in actions(d, "no-oom", since)

"""Interactive use in a real terminal: the docker CLI runs inside tmux (a pty of its own),
keys are typed into it and the screen is read back — `docker run -it`, Ctrl-C, exit
codes, window resizes, the detach keys and `docker attach`, `docker exec -it`. The same
session is driven against sockerless and the reference dockerd and must behave alike."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
import uuid

import pytest

from harness import DOCKER_CLI, cli_env, wait_until

pytestmark = pytest.mark.skipif(not shutil.which("tmux"), reason="tmux not installed")


class Terminal:
    """A tmux session of its own (private socket) running one shell command."""

    def __init__(self, command: str, env: dict[str, str], width=100, height=30):
        self.sock = f"sockerless-it-{uuid.uuid4().hex[:8]}"
        self.done = f"/tmp/{self.sock}.exit"
        wrapped = f"{command}; echo $? > {self.done}; sleep 600"
        env_args = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()
                            if k in ("DOCKER_CONFIG", "PATH", "HOME"))
        self._tmux("new-session", "-d", "-x", str(width), "-y", str(height),
                   f"env TERM=xterm {env_args} sh -c {shlex.quote(wrapped)}")

    def _tmux(self, *args: str) -> str:
        r = subprocess.run(["tmux", "-L", self.sock, *args], capture_output=True, text=True,
                           timeout=10)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def send(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "0", *keys)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", "0", "-l", text)
        self._tmux("send-keys", "-t", "0", "Enter")

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "0")

    def wait_for(self, text: str, timeout=15.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on the screen after {timeout}s:\n{screen}")
            time.sleep(0.05)

    def resize(self, width: int, height: int) -> None:
        self._tmux("resize-window", "-t", "0", "-x", str(width), "-y", str(height))

    def exit_code(self, timeout=15.0) -> int:
        wait_until(lambda: os.path.exists(self.done) and open(self.done).read().strip(),
                   timeout=timeout, what="the docker CLI to exit")
        return int(open(self.done).read())

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True)
        try:
            os.unlink(self.done)
        except FileNotFoundError:
            pass


@pytest.fixture
def term():
    made: list[Terminal] = []

    def make(d, *docker_args: str, **kw) -> Terminal:
        cmd = " ".join(shlex.quote(a) for a in [DOCKER_CLI, "-H", d.host, *docker_args])
        t = Terminal(cmd, cli_env(d.docker_config), **kw)
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


def test_run_it_shell(target, term):
    d, img = target
    t = term(d, "run", "-it", "--rm", img, "sh")
    t.wait_for("/ #")
    t.type("echo answer=$((6*7)); tty")
    t.wait_for("answer=42")
    t.wait_for("/dev/pts/0")
    # Ctrl-C interrupts the foreground command, not the shell.
    t.type("sleep 100")
    time.sleep(0.5)
    t.send("C-c")
    t.type("echo still-here")
    t.wait_for("still-here\r\n".strip())
    # The window size reaches the process, and so do resizes.
    t.type("stty size")
    t.wait_for("30 100")
    t.resize(120, 40)
    time.sleep(0.5)
    t.type("stty size")
    t.wait_for("40 120")
    t.type("exit 3")
    assert t.exit_code() == 3


def test_detach_keys_and_attach(target, term):
    d, img = target
    t = term(d, "run", "-it", "--name", "detachable", img, "sh")
    t.wait_for("/ #")
    t.type("echo before-detach")
    t.wait_for("before-detach")
    t.send("C-p", "C-q")
    assert t.exit_code() == 0
    assert d.docker("inspect", "-f", "{{.State.Running}}", "detachable").stdout.strip() == "true"
    a = term(d, "attach", "detachable")
    time.sleep(0.5)
    a.type("echo after-attach")
    a.wait_for("after-attach")
    a.type("exit 5")
    assert a.exit_code() == 5
    assert d.docker("wait", "detachable").stdout.strip() == "5"


@pytest.mark.parametrize("container_tty", [False, True], ids=["", "tty-container"])
def test_exec_it(target, term, container_tty):
    """The exec's terminal is the next free one of the container's own devpts; its size is
    the client's from the start, and resizes reach it."""
    d, img = target
    cid = d.docker("run", "-dt" if container_tty else "-d", img, "sleep", "60").stdout.strip()
    t = term(d, "exec", "-it", cid, "sh")
    t.wait_for("/ #")
    t.type("echo in-exec $((1+1)) $(tty); stty size")
    t.wait_for(f"in-exec 2 /dev/pts/{1 if container_tty else 0}")
    t.wait_for("30 100")
    t.resize(90, 20)
    time.sleep(0.5)
    t.type("stty size")
    t.wait_for("20 90")
    t.type("exit 4")
    assert t.exit_code() == 4


def tty_scenario(d, img):
    """What a container sees of its terminals, without a terminal on the client side."""
    seen = {}
    r = d.docker("run", "--rm", "-t", "-u", "1000", img, "sh", "-c",
                 "tty; stat -c '%a %u %g %t,%T' /dev/pts/0 /dev/console; echo /dev/pts/*;"
                 r"sed -n 's|^[^ ]* [^ ]* [^ ]* \([^ ]*\) /dev/console .* - \([^ ]*\) .*|\1 \2|p'"
                 " /proc/self/mountinfo")
    seen["run -t -u 1000"] = (r.returncode, r.stdout.replace("\r\n", "\n"), r.stderr)
    for flag in ("--init", "--read-only"):
        r = d.docker("run", "--rm", "-t", flag, img, "tty")
        seen[f"run -t {flag}"] = (r.returncode, r.stdout.replace("\r\n", "\n"), r.stderr)
    r = d.docker("run", "--rm", img, "sh", "-c", "tty; test -e /dev/console || echo no-console")
    seen["run"] = (r.returncode, r.stdout, r.stderr)
    with_tty = d.docker("run", "-dt", img, "sleep", "60").stdout.strip()
    without = d.docker("run", "-d", img, "sleep", "60").stdout.strip()
    try:
        for name, args in {
            "exec -t in a tty container": ["exec", "-t", with_tty, "tty"],
            "exec in a tty container": ["exec", with_tty, "tty"],
            "exec -t -u 1000": ["exec", "-t", "-u", "1000", with_tty, "sh", "-c",
                                "stat -c '%a %u %g' $(tty)"],
            "exec -t": ["exec", "-t", without, "tty"],
        }.items():
            r = d.docker(*args)
            seen[name] = (r.returncode, r.stdout.replace("\r\n", "\n"), r.stderr)
    finally:
        d.docker("rm", "-f", with_tty, without, timeout=60)
    return seen


def test_tty_names_match_dockerd(pair):
    """The pty is opened in the container's own devpts (as runc does): /dev/pts/0 for the
    container, also bound over /dev/console, the next one for an exec, owned by the user."""
    img = pair["image"]
    got = {name: tty_scenario(pair[name], img) for name in ("sockerlessd", "dockerd")}
    assert got["sockerlessd"] == got["dockerd"]
    assert got["sockerlessd"]["run -t -u 1000"][1] == (
        "/dev/pts/0\n620 1000 5 88,0\n620 1000 5 88,0\n/dev/pts/0 /dev/pts/ptmx\n"
        "/0 devpts\n")
    assert got["sockerlessd"]["exec -t in a tty container"][1] == "/dev/pts/1\n"


def test_exec_it_detach_keys_from_the_cli_config(target, tmp_path):
    """`detachKeys` in the CLI's config.json: the CLI sends them in the exec create and
    watches for them itself; typing them ends `docker exec -it` and the shell runs on, its
    exec still listed by the container (ExecIDs)."""
    d, img = target
    (tmp_path / "config.json").write_text(json.dumps({"detachKeys": "ctrl-x,x"}))
    cid = d.docker("run", "-d", img, "sleep", "60").stdout.strip()
    cmd = " ".join(shlex.quote(a) for a in [DOCKER_CLI, "-H", d.host, "exec", "-it", cid, "sh"])
    t = Terminal(cmd, cli_env(str(tmp_path)))
    try:
        t.wait_for("/ #")
        t.type("echo before-detach")
        t.wait_for("before-detach")
        t.send("C-p", "C-q")  # the default keys are no longer them
        t.send("C-x")
        t.send("x")
        # The CLI says "read escape sequence" and leaves with 1, for dockerd too.
        assert t.exit_code() == 1
    finally:
        t.close()
    exec_ids = json.loads(d.docker("inspect", cid).stdout)[0]["ExecIDs"]
    assert len(exec_ids) == 1
    info = json.loads(d.raw("GET", f"/exec/{exec_ids[0]}/json").text)
    assert (info["Running"], info["DetachKeys"]) == (True, "GHg=")  # ctrl-x,x in base64
    assert "sh" in d.docker("exec", cid, "ps", "-o", "comm").stdout.split()

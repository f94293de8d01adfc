"""sockerlessd started by a user that is not root (issue 4): containers run in a user
namespace whose root is that user, the daemon says at start-up and in /info what that
costs, and run, exec, TTYs and removal still work. The test runs the daemon as `nobody`
(setpriv); on this kind of host there is no subordinate id range for it, so the
namespace maps root only."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile

import pytest

from harness import SOCKERLESSD, Daemon, report_problems, wait_until

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                       reason="needs root (to become another user) and setpriv"),
    pytest.mark.backends("memory", reason="the memory backend without privileges"),
]

NOBODY = pwd.getpwnam("nobody")


@pytest.fixture(scope="module")
def rootless(docker_config, registry):
    if not os.access(SOCKERLESSD, os.X_OK):
        pytest.skip(f"sockerlessd binary not found at {SOCKERLESSD}")
    tmp = tempfile.mkdtemp(prefix="sockerless-rl-", dir="/tmp")
    os.chown(tmp, NOBODY.pw_uid, NOBODY.pw_gid)
    sock = os.path.join(tmp, "s.sock")
    data = os.path.join(tmp, "data")
    argv = ["setpriv", f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}", "--clear-groups",
            SOCKERLESSD, "-H", f"unix://{sock}", "--data-root", data, "--log-level", "debug"]
    # No --group: the default docker group (which exists here) is left alone when not root.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp}
    d = Daemon("sockerlessd", argv, tmp=tmp, sock=sock, data_root=data,
               docker_config=docker_config, env=env)
    try:
        d.wait_ready(timeout=15)
        # The daemon's socket belongs to nobody; root's CLI may use it anyway.
        ref = f"{registry.host}/busybox:latest"
        r = d.docker("pull", "-q", ref, timeout=60)
        assert r.returncode == 0, (r.stderr, d.log_tail())
        yield d, ref
    finally:
        report_problems("rootless sockerlessd", d.cleanup())


def test_runs_as_the_invoking_user(rootless):
    d, _ = rootless
    status = open(f"/proc/{d.pid}/status").read()
    assert f"Uid:\t{NOBODY.pw_uid}\t" in status


def test_says_what_is_degraded(rootless):
    d, _ = rootless
    assert "not running as root: containers run in a user namespace" in d.log_tail(200)
    warnings = d.docker("info", "--format", "{{json .Warnings}}").stdout
    assert "whose root is uid %d" % NOBODY.pw_uid in warnings, warnings


def test_run_echo(rootless):
    d, img = rootless
    r = d.docker("run", "--rm", img, "echo", "hi")
    assert (r.returncode, r.stdout, r.stderr) == (0, "hi\n", ""), d.log_tail()


def test_container_root_is_the_daemons_user(rootless):
    d, img = rootless
    r = d.docker("run", "--rm", img, "sh", "-c",
                 "id -u; cat /proc/self/uid_map /proc/self/gid_map; touch /made; stat -c %u /made")
    assert r.returncode == 0, r.stderr
    words = r.stdout.split()
    assert words[0] == "0" and words[-1] == "0", r.stdout
    if not shutil.which("newuidmap"):
        assert words[1:7] == ["0", str(NOBODY.pw_uid), "1", "0", str(NOBODY.pw_gid), "1"], r.stdout


def test_another_user_needs_a_subordinate_range(rootless):
    if shutil.which("newuidmap"):
        pytest.skip("newuidmap is installed: the range (if any) decides")
    d, img = rootless
    r = d.docker("run", "--rm", "-u", "1000", img, "true")
    assert r.returncode != 0
    assert "not mapped in the container's user namespace" in r.stderr, r.stderr


def test_exec_tty_and_remove(rootless):
    d, img = rootless
    cid = d.docker("run", "-dt", img, "sleep", "60").stdout.strip()
    assert cid, d.log_tail()
    try:
        r = d.docker("exec", cid, "sh", "-c", "id -u; hostname")
        assert r.returncode == 0 and r.stdout.split()[0] == "0", (r.stdout, r.stderr)
        assert r.stdout.split()[1] == cid[:12]
        r = d.docker("exec", "-t", cid, "tty")
        assert (r.returncode, r.stdout.strip()) == (0, "/dev/pts/1"), r.stderr
    finally:
        r = d.docker("rm", "-f", cid, timeout=30)
    assert r.returncode == 0, r.stderr
    wait_until(lambda: not d.docker("ps", "-aq").stdout.strip(), what="the container to go")
    state = os.path.join(d.data_root, "memory", "containers", cid)
    assert not os.path.exists(state), os.listdir(state)


def test_networks_without_privileges_are_records_with_loopback(rootless):
    """Without CAP_NET_ADMIN on the host, bridge networks are records: they can be created,
    inspected, connected and removed, containers on them get loopback only, `-p` answers
    501, and start-up and /info say so."""
    d, img = rootless
    warnings = d.docker("info", "--format", "{{json .Warnings}}").stdout
    assert "bridge networks are records only" in warnings, warnings
    assert "bridge networks are records only" in d.log_tail(400)
    assert d.docker("network", "create", "--subnet", "10.251.0.0/24", "rlnet").returncode == 0
    try:
        r = d.docker("run", "--rm", "--network", "rlnet", img, "sh", "-c",
                     "ls /sys/class/net; cat /etc/hostname")
        assert r.returncode == 0, r.stderr
        assert r.stdout.split("\n")[0] == "lo", r.stdout
        r = d.docker("run", "--rm", "-p", "8080:80", img, "true")
        assert r.returncode != 0
        assert "published ports (-p) need bridge networking" in r.stderr, r.stderr
        cid = d.docker("create", "--network", "rlnet", img, "true").stdout.strip()
        doc = d.docker("network", "inspect", "-f", "{{.Name}} {{(index .IPAM.Config 0).Subnet}}",
                       "rlnet").stdout.strip()
        assert doc == "rlnet 10.251.0.0/24"
        assert d.docker("rm", cid).returncode == 0
    finally:
        assert d.docker("network", "rm", "rlnet").returncode == 0

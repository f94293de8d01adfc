"""Removals that finish (issue 25): a container being removed is recorded as such, so a
daemon that dies in the middle finishes the removal at its next start; a removal the
backend cannot complete leaves the container "dead" with the reason, and `rm -f` tries
again, as with dockerd; nothing is ever left "removing"; and a SIGTERM'd daemon is gone
within its --shutdown-timeout whatever its containers do.

These scenarios need sockerless's own state (its database, its container directories),
so they run on the memory backend."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time

import pytest

from harness import DOCKER_CLI, cli_env, wait_until

pytestmark = pytest.mark.backends("memory", reason="reaches into the memory backend's state")


def edit_record(data_root: str, cid: str, change) -> None:
    """Rewrites a stopped daemon's record of a container with `change(doc)`."""
    db = sqlite3.connect(os.path.join(data_root, "sockerless.db"))
    try:
        (doc,) = db.execute("SELECT doc FROM containers WHERE id = ?", (cid,)).fetchone()
        doc = json.loads(doc)
        change(doc)
        db.execute("UPDATE containers SET doc = ? WHERE id = ?", (json.dumps(doc), cid))
        db.commit()
    finally:
        db.close()


def statuses(d) -> dict[str, str]:
    return {c["Id"]: c["State"] for c in d.raw("GET", "/containers/json?all=1").json()}


def volume_names(d) -> set[str]:
    return {v["Name"] for v in d.raw("GET", "/volumes").json()["Volumes"] or []}


@pytest.fixture
def daemon(sockerlessd_factory, registry):
    d = sockerlessd_factory.start()
    image = f"{registry.host}/busybox:latest"
    assert d.docker("pull", "-q", image, timeout=60).returncode == 0
    return d, image


def restart(factory, d):
    assert d.stop(timeout=30) == 0, d.log_tail()
    return factory.start(tmp=d.tmp)


def test_a_removal_the_daemon_died_in_is_finished_at_start_up(daemon, sockerlessd_factory):
    """The state a daemon killed during `rm -v` leaves: the record says "removing" (the
    records of the report: exited, pid 0). The next start removes the container and its
    anonymous volume; a named volume stays."""
    d, image = daemon
    assert d.docker("volume", "create", "kept").returncode == 0
    cids = []
    for cmd in (["true"], ["echo", "hello world"], ["cat", "/kept/x"]):
        r = d.docker("run", "-d", "-v", "/anon", "-v", "kept:/kept", image, *cmd)
        assert r.returncode == 0, r.stderr
        cids.append(r.stdout.strip())
    for cid in cids:
        d.docker("wait", cid)
    anon = {m["Name"] for cid in cids for m in d.client().containers.get(cid).attrs["Mounts"]
            if m["Destination"] == "/anon"}
    assert len(anon) == 3 and anon <= volume_names(d)
    d.proc.kill()
    d.proc.wait(10)

    def removing(doc):
        doc["state"]["status"] = "removing"
        doc["state"]["pid"] = 0
        doc["remove_volumes"] = True

    for cid in cids:
        edit_record(d.data_root, cid, removing)
    d = sockerlessd_factory.start(tmp=d.tmp)
    assert not set(statuses(d)) & set(cids)
    for cid in cids:
        r = d.raw("DELETE", f"/containers/{cid}?force=1")
        assert r.status == 404, r.text
        assert not os.path.exists(os.path.join(d.data_root, "memory", "containers", cid))
    left = volume_names(d)
    assert "kept" in left and not anon & left


def test_records_left_removing_by_an_older_daemon_go(daemon, sockerlessd_factory):
    """A record that says "removing" without remove_volumes (an earlier daemon's): the
    container goes, its anonymous volume stays (nobody asked for it to go)."""
    d, image = daemon
    cid = d.docker("create", "-v", "/anon", image, "true").stdout.strip()
    anon = [m["Name"] for m in d.client().containers.get(cid).attrs["Mounts"]][0]
    d.proc.kill()
    d.proc.wait(10)
    edit_record(d.data_root, cid, lambda doc: doc["state"].update(status="removing", pid=0))
    d = sockerlessd_factory.start(tmp=d.tmp)
    assert cid not in statuses(d)
    assert anon in volume_names(d)


def test_a_removal_that_fails_leaves_the_container_dead_and_rm_f_tries_again(daemon):
    """A file in the container's directory that cannot be deleted (immutable): the
    removal fails (500 with the reason), the container is "dead" with the error in
    State.Error and its removal is not "in progress"; once the file can go, rm -f removes
    the container."""
    d, image = daemon
    cid = d.docker("run", "-d", image, "sleep", "600").stdout.strip()
    stuck = os.path.join(d.data_root, "memory", "containers", cid, "stuck")
    open(stuck, "w").close()
    subprocess.run(["chattr", "+i", stuck], check=True)
    try:
        r = d.raw("DELETE", f"/containers/{cid}?force=1", timeout=30)
        assert r.status == 500, r
        assert "unable to remove filesystem for " + cid in r.json()["message"]
        state = d.raw("GET", f"/containers/{cid}/json").json()["State"]
        assert state["Status"] == "dead" and not state["Running"], state
        assert "unable to remove filesystem" in state["Error"]
        assert state["Pid"] == 0
        assert d.docker("ps", "-a", "-q", "--filter", "status=dead").stdout.split() == [cid[:12]]
        r = d.raw("DELETE", f"/containers/{cid}", timeout=30)  # dead: -f not needed, still stuck
        assert r.status == 500, r
    finally:
        subprocess.run(["chattr", "-i", stuck], check=True)
    r = d.raw("DELETE", f"/containers/{cid}?force=1", timeout=30)
    assert r.status == 204, r
    assert cid not in statuses(d)


def test_exited_auto_remove_containers_go_at_start_up(daemon, sockerlessd_factory):
    """--rm containers whose command ended while no daemon ran, or that the daemon had
    recorded as exited but not yet removed, are removed at the next start (as dockerd's
    restore does), their anonymous volumes with them."""
    d, image = daemon
    ran = d.docker("run", "-d", "--rm", "-v", "/anon", image, "sleep", "1").stdout.strip()
    anon = [m["Name"] for m in d.client().containers.get(ran).attrs["Mounts"]][0]
    exited = d.docker("create", "--rm", image, "true").stdout.strip()
    d.proc.kill()
    d.proc.wait(10)
    edit_record(d.data_root, exited,
                lambda doc: doc["state"].update(status="exited", finished_at=1))
    time.sleep(1.5)  # the sleep of `ran` ends while no daemon runs
    d = sockerlessd_factory.start(tmp=d.tmp)
    assert exited not in statuses(d)
    wait_until(lambda: ran not in statuses(d), timeout=10, what="the --rm container to go")
    assert anon not in volume_names(d)


def test_rm_f_and_auto_remove_never_come_back_after_a_restart(daemon, sockerlessd_factory):
    """rm -f of running containers and --rm containers, many times over, then a restart:
    none of them is listed again (an exit recorded after the removal began brought
    records back as "removing", never to go)."""
    d, image = daemon
    for i in range(12):
        cid = d.docker("run", "-d", "-v", "/anon", image, "sleep", "600").stdout.strip()
        r = d.docker("rm", "-f", "-v", cid)
        assert r.returncode == 0, r.stderr
        r = d.docker("run", "--rm", "-v", "/anon", image, "echo", f"run {i}")
        assert r.stdout == f"run {i}\n", r.stderr
    wait_until(lambda: not statuses(d), timeout=10, what="every container to go")
    d = restart(sockerlessd_factory, d)
    assert statuses(d) == {}
    assert volume_names(d) == set()


def test_sigterm_is_bounded_by_the_shutdown_timeout(sockerlessd_factory, registry):
    """A container that ignores SIGTERM with a long stop timeout, a `wait` and a `logs
    -f` in flight: the daemon still exits (0) within --shutdown-timeout and a margin
    (without the bound it would wait the container's 60 s)."""
    d = sockerlessd_factory.start("--shutdown-timeout", "2")
    image = f"{registry.host}/busybox:latest"
    assert d.docker("pull", "-q", image, timeout=60).returncode == 0
    cid = d.docker("run", "-d", "--stop-timeout", "60", image, "sh", "-c",
                   "trap '' TERM; while :; do sleep 1; done").stdout.strip()
    waiters = [subprocess.Popen([DOCKER_CLI, "-H", d.host, *a], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=cli_env(d.docker_config))
               for a in (["wait", cid], ["logs", "-f", cid])]
    try:
        time.sleep(0.5)
        begun = time.monotonic()
        assert d.stop(timeout=40) == 0, d.log_tail()
        took = time.monotonic() - begun
        assert took < 15, f"shutdown took {took:.1f} s with --shutdown-timeout 2"
    finally:
        for w in waiters:
            w.kill()
            w.wait()
    d = sockerlessd_factory.start(tmp=d.tmp)
    assert statuses(d)[cid].lower() == "exited"
    d.docker("rm", "-f", cid)

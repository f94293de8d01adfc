"""What dockerd checks and fills in a request before acting on it, beside the reference
dockerd: JSON nulls read as absent (Go clients send null for every unset field), create's
validation of the restart policy, log driver and runtime, the zero values inspect shows for
fields a client left out, and a SIGKILL that answers once the container is dead.

Requests go over raw HTTP at API 1.41, which both engines speak.
"""

from __future__ import annotations

import json

import pytest

V = "/v1.41"


@pytest.fixture(autouse=True)
def no_leftovers(pair):
    yield
    for name in ("sockerlessd", "dockerd"):
        d = pair[name]
        ids = d.docker("ps", "-aq").stdout.split()
        if ids:
            d.docker("rm", "-f", *ids, timeout=60)
        for net in ("nulls-net",):
            d.docker("network", "rm", net)
        d.docker("volume", "rm", "-f", "nulls-vol")


def both(pair, scenario):
    return {name: scenario(pair[name], pair["image"]) for name in ("sockerlessd", "dockerd")}


def create(d, body, name=None):
    path = f"{V}/containers/create" + (f"?name={name}" if name else "")
    # dockerd looks an unknown log driver up as a plugin for a while before it answers.
    return d.raw("POST", path, body=body, timeout=60)


# ------------------------------------------------------------------ nulls are absent

def null_container_body(image):
    """A create body as a Go client with every optional field unset writes it."""
    return {
        "Hostname": None, "Domainname": None, "User": None, "Env": None, "Cmd": ["true"],
        "Entrypoint": None, "Labels": None, "Volumes": None, "WorkingDir": None,
        "ExposedPorts": None, "OnBuild": None, "StopSignal": None, "Healthcheck": None,
        "Shell": None, "MacAddress": None, "Image": image,
        "HostConfig": {
            "Binds": None, "NetworkMode": None, "PortBindings": None, "RestartPolicy": None,
            "LogConfig": None, "VolumesFrom": None, "CapAdd": None, "CapDrop": None,
            "Dns": None, "DnsOptions": None, "DnsSearch": None, "ExtraHosts": None,
            "GroupAdd": None, "Links": None, "SecurityOpt": None, "Tmpfs": None,
            "Mounts": None, "Ulimits": None, "Devices": None, "PidsLimit": None,
            "MemorySwappiness": None, "OomKillDisable": None, "Sysctls": None,
            "Runtime": None, "Init": None, "StorageOpt": None, "Isolation": None,
        },
        "NetworkingConfig": {"EndpointsConfig": None},
    }


def test_nulls_in_every_body_read_as_absent(pair):
    def scenario(d, img):
        out = {}
        body = null_container_body(img)
        r = create(d, body)
        out["create"] = r.status
        cid = r.json().get("Id", "")
        out["start"] = d.raw("POST", f"{V}/containers/{cid}/start", body=None).status
        out["wait"] = d.raw("POST", f"{V}/containers/{cid}/wait", timeout=20).json()["StatusCode"]
        body["Cmd"] = ["sleep", "60"]
        cid = create(d, body).json()["Id"]
        out["start-long"] = d.raw("POST", f"{V}/containers/{cid}/start").status
        r = d.raw("POST", f"{V}/containers/{cid}/exec",
                  body={"Cmd": ["true"], "Env": None, "User": None, "WorkingDir": None,
                        "DetachKeys": None, "AttachStdout": None, "Privileged": None})
        out["exec"] = r.status
        r = d.raw("POST", f"{V}/networks/create",
                  body={"Name": "nulls-net", "Driver": None, "Options": None, "Labels": None,
                        "IPAM": {"Driver": None, "Config": None, "Options": None},
                        "Internal": None, "Attachable": None, "EnableIPv6": None,
                        "CheckDuplicate": None})
        out["network"] = r.status
        r = d.raw("POST", f"{V}/networks/nulls-net/connect",
                  body={"Container": cid, "EndpointConfig": {"Aliases": None,
                                                            "IPAMConfig": None,
                                                            "Links": None}})
        out["connect"] = r.status
        r = d.raw("POST", f"{V}/networks/nulls-net/disconnect",
                  body={"Container": cid, "Force": None})
        out["disconnect"] = r.status
        r = d.raw("POST", f"{V}/volumes/create",
                  body={"Name": "nulls-vol", "Driver": None, "DriverOpts": None,
                        "Labels": None})
        out["volume"] = r.status
        r = d.raw("POST", f"{V}/containers/{cid}/update",
                  body={"RestartPolicy": None, "Memory": None, "CpuShares": None})
        out["update"] = r.status
        r = d.raw("POST", f"{V}/commit?container={cid}&repo=nulls-commit",
                  body={"Cmd": None, "Env": None, "Labels": None})
        out["commit"] = r.status
        d.docker("rmi", "-f", "nulls-commit")
        d.docker("rm", "-f", cid)
        return out

    res = both(pair, scenario)
    assert res["sockerlessd"] == res["dockerd"]
    assert res["dockerd"]["create"] == 201 and res["dockerd"]["network"] == 201


def test_inspect_shows_zero_values_for_fields_left_out(pair):
    """A minimal create body: inspect's Config and HostConfig carry every field dockerd's
    do, with the same zero values."""
    # Filled by the engine itself or differing by design (see the README): sockerless
    # gives every container a cgroup namespace of its own, also on cgroup v1 hosts.
    ours = {"Runtime", "LogConfig", "RestartPolicy", "NetworkMode", "MaskedPaths",
            "ReadonlyPaths", "KernelMemory", "KernelMemoryTCP", "CgroupnsMode"}

    def scenario(d, img):
        cid = create(d, {"Image": img, "Cmd": ["true"]}).json()["Id"]
        doc = d.raw("GET", f"{V}/containers/{cid}/json").json()
        return doc["Config"], doc["HostConfig"]

    res = both(pair, scenario)
    s_conf, s_host = res["sockerlessd"]
    d_conf, d_host = res["dockerd"]
    for key in ("Volumes", "OnBuild", "Entrypoint", "Labels", "Env"):
        assert key in s_conf, key
    assert s_conf["Volumes"] == d_conf["Volumes"] and s_conf["OnBuild"] == d_conf["OnBuild"]
    missing = set(d_host) - set(s_host) - ours
    assert not missing, f"HostConfig lacks {sorted(missing)}"
    differ = {k: (s_host[k], d_host[k]) for k in d_host
              if k in s_host and k not in ours and s_host[k] != d_host[k]}
    assert not differ, differ
    assert s_host["LogConfig"] == d_host["LogConfig"] == {"Type": "json-file", "Config": {}}


# ------------------------------------------------------------------- create's checks

@pytest.mark.parametrize("policy", [
    {"Name": "always", "MaximumRetryCount": 3},
    {"Name": "no", "MaximumRetryCount": 1},
    {"Name": "unless-stopped", "MaximumRetryCount": 2},
    {"Name": "on-failure", "MaximumRetryCount": -1},
    {"Name": "sometimes", "MaximumRetryCount": 0},
])
def test_invalid_restart_policy_is_400(pair, policy):
    def scenario(d, img):
        r = create(d, {"Image": img, "Cmd": ["true"], "HostConfig": {"RestartPolicy": policy}})
        return r.status, r.json()["message"], d.docker("ps", "-aq").stdout.split()

    res = both(pair, scenario)
    assert res["sockerlessd"] == res["dockerd"]
    assert res["dockerd"][0] == 400 and res["dockerd"][2] == []


def test_valid_restart_policies_are_accepted(pair):
    def scenario(d, img):
        out = []
        for policy in ({"Name": "on-failure", "MaximumRetryCount": 3}, {"Name": ""},
                       {"Name": "always"}, {"Name": "unless-stopped"}, {"Name": "no"}):
            r = create(d, {"Image": img, "Cmd": ["true"],
                           "HostConfig": {"RestartPolicy": policy}})
            out.append(r.status)
        return out

    res = both(pair, scenario)
    assert res["sockerlessd"] == res["dockerd"] == [201] * 5


@pytest.mark.timeout(120)
def test_unknown_log_driver_is_400(pair):
    def scenario(d, img):
        r = create(d, {"Image": img, "Cmd": ["true"],
                       "HostConfig": {"LogConfig": {"Type": "no-such-driver", "Config": {}}}})
        cli = d.docker("create", "--log-driver", "no-such-driver", img, "true", timeout=60)
        return r.status, r.json()["message"], cli.returncode, d.docker("ps", "-aq").stdout

    res = both(pair, scenario)
    assert res["sockerlessd"] == res["dockerd"]
    assert res["dockerd"][0] == 400


def test_log_config_type_defaults_to_json_file(pair):
    def scenario(d, img):
        out = []
        for log in (None, {"Type": "", "Config": {}}, {"Type": "json-file"}):
            body = {"Image": img, "Cmd": ["true"], "HostConfig": {}}
            if log is not None:
                body["HostConfig"]["LogConfig"] = log
            cid = create(d, body).json()["Id"]
            out.append(d.raw("GET", f"{V}/containers/{cid}/json").json()
                       ["HostConfig"]["LogConfig"])
        return out

    res = both(pair, scenario)
    assert res["sockerlessd"] == res["dockerd"]
    assert res["dockerd"][0] == {"Type": "json-file", "Config": {}}


def test_masked_and_readonly_paths_show_what_is_hidden(pair):
    """Left out (null from Go clients), MaskedPaths and ReadonlyPaths show the defaults an
    unprivileged container gets, and nothing for a privileged one. The lists grew after
    dockerd 20.10 (/proc/interrupts, powercap): ours hold at least its entries, and what
    they name is hidden in the container (custom lists are shown, the defaults apply)."""
    def scenario(d, img):
        out = {}
        for privileged in (False, True):
            body = {"Image": img, "Cmd": ["true"],
                    "HostConfig": {"Privileged": privileged, "MaskedPaths": None,
                                   "ReadonlyPaths": None}}
            cid = create(d, body).json()["Id"]
            hc = d.raw("GET", f"{V}/containers/{cid}/json").json()["HostConfig"]
            out[privileged] = (hc["MaskedPaths"], hc["ReadonlyPaths"])
        r = d.docker("run", "--rm", img, "sh", "-c",
                     "wc -c < /proc/timer_list; "
                     "awk '$2 == \"/proc/sys\" {split($4, o, \",\"); print o[1]}' /proc/mounts")
        out["hidden"] = r.stdout.split()
        return out

    res = both(pair, scenario)
    assert res["sockerlessd"][True] == res["dockerd"][True] == (None, None)
    ours, theirs = res["sockerlessd"][False], res["dockerd"][False]
    assert set(theirs[0]) <= set(ours[0]) and set(theirs[1]) <= set(ours[1]), (ours, theirs)
    assert res["sockerlessd"]["hidden"] == res["dockerd"]["hidden"] == ["0", "ro"], res


def test_log_driver_none_refuses_reading(pair):
    def scenario(d, img):
        cid = d.docker("run", "-d", "--log-driver", "none", img, "echo", "hi").stdout.strip()
        d.docker("wait", cid)
        r = d.docker("logs", cid)
        return r.returncode, r.stdout, r.stderr.strip()

    res = both(pair, scenario)
    assert res["sockerlessd"] == res["dockerd"]
    assert res["dockerd"][0] != 0


def test_runtime_runc_is_echoed_and_unknown_refused(pair):
    def scenario(d, img):
        cid = create(d, {"Image": img, "Cmd": ["true"],
                         "HostConfig": {"Runtime": "runc"}}).json()["Id"]
        runtime = d.raw("GET", f"{V}/containers/{cid}/json").json()["HostConfig"]["Runtime"]
        r = create(d, {"Image": img, "Cmd": ["true"], "HostConfig": {"Runtime": "nope"}})
        return runtime, r.status, r.json()["message"]

    res = both(pair, scenario)
    assert res["sockerlessd"] == res["dockerd"]
    assert res["dockerd"][0] == "runc"


# ------------------------------------------------------------------------ kill

def test_sigkill_answers_once_the_container_is_dead(pair):
    """GitLab Runner kills then removes at once: the removal must not find it running."""

    def scenario(d, img):
        out = []
        for _ in range(3):
            cid = d.docker("run", "-d", img, "sh", "-c", "trap '' TERM; sleep 60").stdout.strip()
            r = d.raw("POST", f"{V}/containers/{cid}/kill")
            state = d.raw("GET", f"{V}/containers/{cid}/json").json()["State"]
            rm = d.raw("DELETE", f"{V}/containers/{cid}")
            out.append((r.status, state["Status"], state["Running"], state["ExitCode"],
                        rm.status))
        return out

    res = both(pair, scenario)
    assert res["sockerlessd"] == res["dockerd"]
    assert res["dockerd"][0] == (204, "exited", False, 137, 204)


def test_other_signals_answer_at_once(pair):
    def scenario(d, img):
        cid = d.docker("run", "-d", img, "sh", "-c",
                       "trap 'echo got-usr1' USR1; while true; do sleep 0.1; done").stdout.strip()
        r = d.raw("POST", f"{V}/containers/{cid}/kill?signal=SIGUSR1")
        running = d.raw("GET", f"{V}/containers/{cid}/json").json()["State"]["Running"]
        return r.status, running

    res = both(pair, scenario)
    assert res["sockerlessd"] == res["dockerd"] == (204, True)


# ------------------------------------------------------- the first run's output

def test_first_run_on_a_fresh_daemon_keeps_its_output(sockerlessd_factory, registry):
    """On a fresh daemon the first start unpacks the image's layers while the client is
    already attached; what the container prints must still reach it (it once came out
    empty). Several fresh daemons, each with one pull and one quick container."""
    ref = f"{registry.host}/busybox:latest"
    for _ in range(3):
        d = sockerlessd_factory.start()
        assert d.docker("pull", "-q", ref, timeout=60).returncode == 0
        r = d.docker("run", "--rm", ref, "sh", "-c", "echo $$; echo err >&2")
        assert (r.returncode, r.stdout, r.stderr) == (0, "1\n", "err\n")
        d.stop()


# ------------------------------------------------------------ the process environment

def test_process_environment_as_dockerd(pair):
    """PATH, HOSTNAME (the container's hostname) and TERM=xterm on a terminal, for the
    command and for execs (an exec's terminal its own); the container's Env wins."""
    def scenario(d, img):
        def env(text):
            return sorted(line for line in text.replace("\r", "").splitlines()
                          if not line.startswith(("HOME=", "SHLVL=", "PWD=", "_=")))
        out = {}
        r = d.docker("run", "--rm", "--hostname", "box", img, "env")
        out["run"] = env(r.stdout)
        r = d.docker("run", "--rm", "-t", "-e", "HOSTNAME=mine", "-e", "X=1", img, "env")
        out["run -t"] = env(r.stdout)
        cid = d.docker("run", "-d", "--hostname", "box", img, "sleep", "60").stdout.strip()
        try:
            out["exec"] = env(d.docker("exec", cid, "env").stdout)
            out["exec -t"] = env(d.docker("exec", "-t", "-e", "Y=2", cid, "env").stdout)
        finally:
            d.docker("rm", "-f", cid)
        return out

    res = both(pair, scenario)
    assert res["sockerlessd"] == res["dockerd"]
    assert "HOSTNAME=box" in res["dockerd"]["run"]
    assert "TERM=xterm" in res["dockerd"]["exec -t"] and "Y=2" in res["dockerd"]["exec -t"]
    assert {"HOSTNAME=mine", "X=1", "TERM=xterm"} <= set(res["dockerd"]["run -t"])

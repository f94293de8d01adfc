"""Legacy links (docker run --link, HostConfig.Links, EndpointSettings.Links) and the
default bridge's refusal of a user-specified address, scenario by scenario on sockerlessd
and on a dockerd that has its default bridge (the session's reference dockerd runs with
--bridge=none, so this module starts one of its own); each scenario's results must be the
same on both."""

from __future__ import annotations

import json

import pytest

from harness import run_dockerd

V = "/v1.41"
DEFAULT_BRIDGE = pytest.mark.backends(
    "memory", reason="the default bridge, which the harness's dockerd runs without")


@pytest.fixture(scope="module")
def bridged(docker_config, registry):
    with run_dockerd(docker_config, "bridged-dockerd", bridge=True) as d:
        ref = f"{registry.host}/busybox:latest"
        assert d.docker("pull", "-q", ref, timeout=60).returncode == 0
        yield d
        d.docker("rmi", "-f", ref)


@pytest.fixture(scope="module")
def engines(sockerlessd, busybox, bridged):
    return {"sockerlessd": sockerlessd, "dockerd": bridged}


def on_both(engines, image, scenario, networks=()):
    """scenario(daemon, image) on each engine; its containers and `networks` go after."""
    out = {}
    for name, d in engines.items():
        try:
            out[name] = scenario(d, image)
        finally:
            ids = d.docker("ps", "-aq").stdout.split()
            if ids:
                d.docker("rm", "-f", *ids, timeout=60)
            for n in networks:
                d.docker("network", "rm", n)
    return out


def answer(r):
    """(status, message) of a raw API answer."""
    try:
        return r.status, r.json().get("message") if r.body else None
    except ValueError:
        return r.status, r.text


def create(d, name, image, cmd=("sleep", "300"), host_config=None, endpoints=None):
    body = {"Image": image, "Cmd": list(cmd), "HostConfig": host_config or {}}
    if endpoints is not None:
        body["NetworkingConfig"] = {"EndpointsConfig": endpoints}
    return d.raw("POST", f"{V}/containers/create?name={name}", body)


def inspect(d, ref, template):
    r = d.docker("inspect", "-f", template, ref)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@DEFAULT_BRIDGE
@pytest.mark.timeout(120)
def test_link_environment_hosts_and_reachability(engines, busybox):
    def scenario(d, img):
        r = d.docker("run", "-d", "--name", "db", "-e", "FOO=bar", "-e", "HOME=/x",
                     "--expose", "5432", "--expose", "7000-7002", "--expose", "53/udp",
                     "--expose", "5432/udp", img, "sleep", "300")
        assert r.returncode == 0, r.stderr
        db = r.stdout.strip()
        ip = inspect(d, "db", "{{.NetworkSettings.IPAddress}}")
        assert ip
        r = d.docker("run", "--rm", "--name", "web", "--link", "db:db-main",
                     "-e", "DB_MAIN_ENV_FOO=own", img, "sh", "-c",
                     "env | sort; echo ---; cat /etc/hosts; echo ---;"
                     " ping -c1 -W2 db-main >/dev/null && ping -c1 -W2 db >/dev/null"
                     " && echo reached", timeout=60)
        assert r.returncode == 0, r.stderr
        env, hosts, reached = r.stdout.split("---\n")
        norm = lambda s: s.replace(ip, "IP").replace(db[:12], "ID")
        return {
            "env": [norm(l) for l in env.splitlines() if l.startswith("DB_MAIN")],
            "hosts": [norm(l) for l in hosts.splitlines() if "db-main" in l],
            "reached": reached.strip(),
        }

    out = on_both(engines, busybox, scenario)
    assert out["sockerlessd"] == out["dockerd"]
    got = out["dockerd"]
    assert "DB_MAIN_NAME=/web/db-main" in got["env"]
    assert "DB_MAIN_ENV_FOO=own" in got["env"]  # the container's own variable wins
    assert not [v for v in got["env"] if v.startswith("DB_MAIN_ENV_HOME=")]
    assert "DB_MAIN_PORT=udp://IP:53" in got["env"]
    assert "DB_MAIN_PORT_7000_TCP_END=tcp://IP:7002" in got["env"]
    assert "DB_MAIN_PORT_5432_UDP_PROTO=udp" in got["env"]
    assert got["hosts"] == ["IP\tdb-main ID db"]
    assert got["reached"] == "reached"


@DEFAULT_BRIDGE
@pytest.mark.timeout(120)
def test_links_in_inspect_ps_rename_and_rm_link(engines, busybox):
    def scenario(d, img):
        res = {}
        assert d.docker("run", "-d", "--name", "db", img, "sleep", "300").returncode == 0
        assert d.docker("create", "--name", "web2", "--link", "db:dbx", "--link", "db", img,
                        "sleep", "300").returncode == 0
        links = lambda ref: json.loads(inspect(d, ref, "{{json .HostConfig.Links}}")) or []
        res["links"] = sorted(links("web2"))
        res["endpoint_links"] = inspect(d, "web2", "{{json .NetworkSettings.Networks.bridge.Links}}")
        res["by_link_name"] = inspect(d, "web2/dbx", "{{.Name}}")
        listed = d.raw("GET", f"{V}/containers/json?all=1").json()
        res["names"] = sorted(sorted(c["Names"]) for c in listed)
        res["ps"] = sorted(d.docker("ps", "-a", "--format", "{{.Names}}").stdout.split())
        # Any container route takes a link name ("web2/db" is db, which runs).
        res["start_by_link"] = answer(d.raw("POST", f"{V}/containers/web2/db/start"))
        res["rm_default_name"] = answer(d.raw("DELETE", f"{V}/containers/db?link=1"))
        res["rm_no_parent"] = answer(d.raw("DELETE", f"{V}/containers/nosuch/db?link=1"))
        r = d.docker("rm", "--link", "/web2/dbx")
        res["rm_link"] = (r.returncode, r.stdout.strip())
        res["rm_again"] = answer(d.raw("DELETE", f"{V}/containers/web2/dbx?link=1"))
        res["after_rm"] = links("web2")
        assert d.docker("rename", "web2", "web3").returncode == 0
        res["renamed_parent"] = (links("web3"), inspect(d, "web3/db", "{{.Name}}"))
        assert d.docker("rename", "db", "db2").returncode == 0
        res["renamed_child"] = links("web3")
        assert d.docker("rm", "-f", "db2").returncode == 0
        res["child_removed"] = links("web3")
        res["start"] = answer(d.raw("POST", f"{V}/containers/web3/start"))
        res["state"] = inspect(d, "web3", "{{.State.ExitCode}} {{.State.Error}}")
        return res

    out = on_both(engines, busybox, scenario)
    assert out["sockerlessd"] == out["dockerd"]
    got = out["dockerd"]
    assert got["links"] == ["/db:/web2/db", "/db:/web2/dbx"]
    assert got["by_link_name"] == "/db"
    assert got["rm_link"] == (0, "/web2/dbx")
    assert got["after_rm"] == ["/db:/web2/db"]
    assert got["renamed_parent"] == (["/db:/web3/db"], "/db")


@DEFAULT_BRIDGE
@pytest.mark.timeout(120)
def test_link_errors_at_create_and_start(engines, busybox):
    def scenario(d, img):
        res = {}
        assert d.docker("run", "-d", "--name", "db", img, "sleep", "300").returncode == 0
        assert d.docker("create", "--name", "hostc", "--network", "host", img,
                        "true").returncode == 0
        assert d.docker("create", "--name", "stopped", img, "true").returncode == 0
        assert d.docker("run", "-d", "--name", "nonet", "--network", "none", img, "sleep",
                        "300").returncode == 0
        for key, hc in {
            "missing": {"Links": ["nosuch"]},
            "bad_format": {"Links": ["a:b:c"]},
            "empty": {"Links": [""]},
            "host_mode": {"Links": ["db"], "NetworkMode": "host"},
            "container_mode": {"Links": ["db"], "NetworkMode": "container:db"},
            "to_host_container": {"Links": ["hostc"]},
        }.items():
            res[key] = answer(create(d, "w-" + key.replace("_", "-"), img, host_config=hc))
        assert create(d, "w3", img, ("true",), {"Links": ["stopped:s"]}).status == 201
        res["to_stopped"] = answer(d.raw("POST", f"{V}/containers/w3/start"))
        res["to_stopped_state"] = inspect(d, "w3", "{{.State.ExitCode}} {{.State.Error}}")
        assert create(d, "w4", img, ("true",), {"Links": ["nonet"]}).status == 201
        res["off_bridge"] = answer(d.raw("POST", f"{V}/containers/w4/start"))
        # A container that was to remove itself goes when its start fails.
        r = d.docker("run", "--rm", "--name", "w5", "--link", "stopped:s", img, "true")
        res["autoremove"] = (r.returncode, "Cannot link to a non running container" in r.stderr,
                             d.docker("ps", "-aq", "--filter", "name=w5").stdout.strip())
        return res

    out = on_both(engines, busybox, scenario)
    assert out["sockerlessd"] == out["dockerd"]
    got = out["dockerd"]
    assert got["missing"] == (400, "could not get container for nosuch: No such container: nosuch")
    assert got["to_stopped"] == (500, "Cannot link to a non running container: /stopped AS /w3/s")
    assert got["to_stopped_state"].startswith("128 Cannot link")
    assert got["autoremove"] == (125, True, "")


@DEFAULT_BRIDGE
def test_default_bridge_refuses_a_requested_address_at_start(engines, busybox):
    def scenario(d, img):
        res = {}
        ep = {"bridge": {"IPAMConfig": {"IPv4Address": "172.17.0.77"}}}
        res["create"] = create(d, "ipc", img, ("true",), endpoints=ep).status
        res["start"] = answer(d.raw("POST", f"{V}/containers/ipc/start"))
        res["state"] = inspect(d, "ipc", "{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}")
        for key, ipam in {"bad_v4": {"IPv4Address": "nonsense"},
                          "bad_v6": {"IPv6Address": "nonsense"}}.items():
            res[key] = answer(create(d, key.replace("_", "-"), img, ("true",),
                                     endpoints={"bridge": {"IPAMConfig": ipam}}))
        assert create(d, "ipcc", img).status == 201
        res["connect"] = answer(d.raw("POST", f"{V}/networks/bridge/connect", {
            "Container": "ipcc", "EndpointConfig": {"IPAMConfig": {"IPv4Address": "172.17.0.9"}}}))
        return res

    out = on_both(engines, busybox, scenario)
    assert out["sockerlessd"] == out["dockerd"]
    msg = "user specified IP address is supported on user defined networks only"
    assert out["dockerd"]["start"] == (400, msg)
    assert out["dockerd"]["state"] == f"created 128 {msg}"
    assert out["dockerd"]["connect"] == (400, msg)
    assert out["dockerd"]["bad_v4"] == (400, "invalid IPv4 address: nonsense")


@pytest.mark.timeout(120)
def test_links_on_a_user_defined_network_are_the_linking_containers_aliases(engines, busybox):
    """On a user-defined network a link is an alias that only the linking container's
    queries to the embedded DNS see: given at create (the CLI moves --link into the
    endpoint) or with network connect --link, running or not."""
    def scenario(d, img):
        res = {}
        for n in ("lk-net", "lk-other"):
            assert d.docker("network", "create", n).returncode == 0
        assert d.docker("run", "-d", "--name", "five", "--network", "lk-net", img, "sleep",
                        "300").returncode == 0
        # Connected while running.
        assert d.docker("run", "-d", "--name", "cc", "--network", "lk-other", img, "sleep",
                        "300").returncode == 0
        assert d.docker("network", "connect", "--link", "five:fivealias", "lk-net",
                        "cc").returncode == 0
        res["running_links"] = inspect(d, "cc", '{{json (index .NetworkSettings.Networks "lk-net").Links}}')
        res["running_ping"] = d.docker("exec", "cc", "ping", "-c1", "-W2", "fivealias").returncode
        # Connected before its start.
        assert d.docker("create", "--name", "st", "--network", "lk-other", img, "sleep",
                        "300").returncode == 0
        assert d.docker("network", "connect", "--link", "five:f5", "lk-net", "st").returncode == 0
        res["stopped_links"] = inspect(d, "st", '{{json (index .NetworkSettings.Networks "lk-net").Links}}')
        assert d.docker("start", "st").returncode == 0
        res["stopped_ping"] = d.docker("exec", "st", "ping", "-c1", "-W2", "f5").returncode
        # At create, and nobody else sees the alias.
        r = d.docker("run", "--rm", "--network", "lk-net", "--link", "five:fa", img, "ping",
                     "-c1", "-W2", "fa", timeout=60)
        res["create_ping"] = r.returncode
        r = d.docker("run", "--rm", "--network", "lk-net", img, "ping", "-c1", "-W2", "fa",
                     timeout=60)
        res["others"] = (r.returncode, r.stderr.strip())
        assert d.docker("create", "--name", "ud", "--network", "lk-net", "--link", "five:fa",
                        img, "true").returncode == 0
        res["create_links"] = inspect(
            d, "ud", '{{json .HostConfig.Links}} {{json (index .NetworkSettings.Networks "lk-net").Links}}')
        return res

    out = on_both(engines, busybox, scenario, networks=("lk-net", "lk-other"))
    assert out["sockerlessd"] == out["dockerd"]
    got = out["dockerd"]
    assert got["running_links"] == '["five:fivealias"]'
    assert got["running_ping"] == 0 and got["stopped_ping"] == 0 and got["create_ping"] == 0
    assert got["stopped_links"] == '["five:f5"]'
    assert got["others"] == (1, "ping: bad address 'fa'")
    assert got["create_links"] == 'null ["five:fa"]'

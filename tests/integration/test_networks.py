"""Networks on the memory backend with the docker CLI: the predefined networks, user-defined
bridge networks with IPAM, containers reaching each other by name through the embedded DNS,
connect/disconnect on running containers, published ports reached from the host, and the
network API's errors. Where dockerd's behaviour is the reference it is noted; the harness's
dockerd runs with --bridge=none, so traffic is compared against expectations, not against it.

Deliberate differences (README): the embedded DNS server listens on the network's gateway
(dockerd: 127.0.0.11 inside the container), and published ports always go through the
userland proxy (dockerd: iptables DNAT, with the proxy for loopback).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess

import pytest

from harness import free_tcp_port, wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="bridge networks need root")


@pytest.fixture(autouse=True)
def cleanup(sockerlessd):
    yield
    ids = sockerlessd.docker("ps", "-aq").stdout.split()
    if ids:
        sockerlessd.docker("rm", "-f", *ids, timeout=60)
    sockerlessd.docker("network", "prune", "-f")


def links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


@pytest.mark.backends("memory", reason="the harness's dockerd runs with --bridge=none")
def test_predefined_networks(sockerlessd):
    names = sockerlessd.docker("network", "ls", "--format", "{{.Name}} {{.Driver}}").stdout.split("\n")
    assert {"bridge bridge", "host host", "none null"} <= set(names)
    r = sockerlessd.docker("network", "rm", "bridge")
    assert r.returncode != 0 and "bridge is a pre-defined network and cannot be removed" in r.stderr


@pytest.mark.backends("memory", reason="the harness's dockerd runs with --bridge=none")
def test_default_bridge_gives_an_address_and_a_route_to_the_gateway(sockerlessd, busybox):
    doc = json.loads(sockerlessd.docker("network", "inspect", "bridge").stdout)[0]
    subnet = doc["IPAM"]["Config"][0]["Subnet"]
    gateway = doc["IPAM"]["Config"][0]["Gateway"]
    r = sockerlessd.docker("run", "--rm", busybox, "sh", "-c",
                           "ip -4 -o addr show eth0; ip route; ping -c1 -W2 " + gateway)
    assert r.returncode == 0, r.stderr
    assert "eth0" in r.stdout and f"default via {gateway}" in r.stdout
    assert "1 packets received" in r.stdout
    prefix = subnet.split("/")[1]
    assert f"/{prefix}" in r.stdout


def test_user_network_dns_by_name_alias_and_id(sockerlessd, busybox):
    before = links()
    assert sockerlessd.docker("network", "create", "--subnet", "10.199.0.0/24",
                              "appnet").returncode == 0
    srv = sockerlessd.docker("run", "-d", "--name", "web", "--network", "appnet",
                             "--network-alias", "www", "--ip", "10.199.0.50", busybox,
                             "sh", "-c", "echo hello-from-web > /www/index.html 2>/dev/null || "
                             "(mkdir -p /www && echo hello-from-web > /www/index.html); "
                             "httpd -f -p 80 -h /www").stdout.strip()
    assert srv
    doc = json.loads(sockerlessd.docker("inspect", srv).stdout)[0]
    ep = doc["NetworkSettings"]["Networks"]["appnet"]
    assert ep["IPAddress"] == "10.199.0.50" and ep["Gateway"] == "10.199.0.1"
    assert ep["MacAddress"] == "02:42:0a:c7:00:32"
    for name in ("web", "www", srv[:12]):
        # nc, not wget: Debian's busybox-static wget segfaults (on the host too).
        r = sockerlessd.docker("run", "--rm", "--network", "appnet", busybox, "sh", "-c",
                               f'printf "GET /index.html HTTP/1.0\\r\\n\\r\\n" | nc {name} 80')
        assert r.returncode == 0, (name, r.stderr)
        assert r.stdout.endswith("\nhello-from-web\n"), r.stdout
    # A name that is not a container goes nowhere (no upstream answers it here).
    r = sockerlessd.docker("run", "--rm", "--network", "appnet", busybox, "nslookup",
                           "no-such-container-here")
    assert r.returncode != 0
    net = json.loads(sockerlessd.docker("network", "inspect", "appnet").stdout)[0]
    assert srv in net["Containers"]
    assert net["Containers"][srv]["IPv4Address"] == "10.199.0.50/24"
    r = sockerlessd.docker("network", "rm", "appnet")
    assert r.returncode != 0 and "has active endpoints" in r.stderr
    sockerlessd.docker("rm", "-f", srv)
    assert sockerlessd.docker("network", "rm", "appnet").returncode == 0
    assert links() - before == set(), "interfaces left behind"


def test_connect_and_disconnect_a_running_container(sockerlessd, busybox):
    sockerlessd.docker("network", "create", "left")
    sockerlessd.docker("network", "create", "right")
    a = sockerlessd.docker("run", "-d", "--name", "alpha", "--network", "left", busybox,
                           "sleep", "60").stdout.strip()
    b = sockerlessd.docker("run", "-d", "--name", "beta", "--network", "right", busybox,
                           "sleep", "60").stdout.strip()
    assert sockerlessd.docker("exec", a, "ping", "-c1", "-W2", "beta").returncode != 0
    assert sockerlessd.docker("network", "connect", "right", a).returncode == 0
    r = sockerlessd.docker("exec", a, "ping", "-c1", "-W2", "beta")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "eth1" in sockerlessd.docker("exec", a, "ip", "-o", "link").stdout
    r = sockerlessd.docker("network", "connect", "right", a)
    assert r.returncode != 0 and "already exists in network right" in r.stderr
    assert sockerlessd.docker("network", "disconnect", "right", a).returncode == 0
    assert "eth1" not in sockerlessd.docker("exec", a, "ip", "-o", "link").stdout
    nets = json.loads(sockerlessd.docker("inspect", a).stdout)[0]["NetworkSettings"]["Networks"]
    assert list(nets) == ["left"]
    sockerlessd.docker("rm", "-f", a, b)


@pytest.mark.backends("memory", reason="the harness's dockerd runs with --iptables=false")
def test_published_port_reaches_the_container(sockerlessd, busybox):
    port = free_tcp_port()
    cid = sockerlessd.docker("run", "-d", "-p", f"127.0.0.1:{port}:80", busybox, "sh", "-c",
                             "mkdir /www && echo published > /www/index.html && "
                             "httpd -f -p 80 -h /www").stdout.strip()
    assert cid
    assert sockerlessd.docker("port", cid).stdout.strip() == f"80/tcp -> 127.0.0.1:{port}"

    def fetch():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
                return data
        except OSError:
            return b""

    wait_until(lambda: b"published" in fetch(), timeout=10, what="the published port to answer")
    ps = sockerlessd.docker("ps", "--format", "{{.Ports}}").stdout.strip()
    assert ps == f"127.0.0.1:{port}->80/tcp"
    sockerlessd.docker("stop", "-t", "1", cid)
    assert fetch() == b""  # the proxy went with the container
    r = sockerlessd.docker("inspect", "-f", "{{json .NetworkSettings.Ports}}", cid)
    assert r.stdout.strip() == "{}"


@pytest.mark.timeout(90)  # dockerd looks for a "nosuchdriver" plugin for a while
def test_network_errors_match_dockerd(pair):
    outs = {}
    for name in ("sockerlessd", "dockerd"):
        d, img = pair[name], pair["image"]
        d.docker("network", "create", "twice")
        d.docker("network", "create", "other")
        cid = d.docker("run", "-d", "--name", "netc", "--network", "twice", img, "sleep",
                       "60").stdout.strip()
        outs[name] = [
            d.docker("network", "create", "twice").stderr.strip(),
            d.docker("network", "inspect", "nope").stderr.strip(),
            d.docker("network", "rm", "none").stderr.strip(),
            d.docker("network", "create", "--driver", "nosuchdriver", "x").returncode != 0,
            d.docker("network", "rm", "twice").stderr.strip().replace(
                json.loads(d.docker("network", "inspect", "twice").stdout)[0]["Id"], "<id>"),
            d.docker("network", "disconnect", "other", cid).stderr.strip().replace(cid, "<id>"),
            d.docker("network", "connect", "twice", cid).stderr.strip().replace(cid, "<id>"),
        ]
        d.docker("rm", "-f", cid)
        d.docker("network", "rm", "twice", "other")
    assert outs["sockerlessd"] == outs["dockerd"]


def test_network_none_and_host(sockerlessd, busybox):
    r = sockerlessd.docker("run", "--rm", "--network", "none", busybox, "ip", "-o", "link")
    assert "eth0" not in r.stdout and "lo" in r.stdout
    r = sockerlessd.docker("run", "--rm", "--network", "host", busybox, "hostname")
    assert r.stdout.strip() == socket.gethostname()


def test_network_container_mode_matches_dockerd(target):
    """--network container:<name>: dockerd's conflicts at create, the shared namespace
    (loopback included), the other container's hostname, and the start-time errors."""
    d, image = target
    for extra, message in [
        (["--hostname", "x"], "conflicting options: hostname and the network mode"),
        (["-p", "8080:80"], "conflicting options: port publishing and the container type network mode"),
        (["--dns", "1.1.1.1"], "conflicting options: dns and the network mode"),
        (["--add-host", "a:1.2.3.4"], "conflicting options: custom host-to-IP mapping and the network mode"),
        (["--expose", "80"], "conflicting options: port exposing and the container type network mode"),
    ]:
        r = d.docker("create", "--network", "container:whatever", *extra, image, "true")
        assert r.returncode != 0 and message in r.stderr, (d.name, extra, r.stderr)

    tgt = d.docker("run", "-d", "--name", "nettgt", "--hostname", "tgthost", image,
                   "sh", "-c", "echo from-loopback > /tmp/x; exec nc -ll -p 7000 -e cat /tmp/x"
                   ).stdout.strip()
    assert tgt
    dep = d.docker("create", "--name", "netdep", "--network", "container:nettgt", image,
                   "sh", "-c", "hostname; nc 127.0.0.1 7000 </dev/null").stdout.strip()
    mode = d.docker("inspect", "-f", "{{.HostConfig.NetworkMode}} {{len .NetworkSettings.Networks}}",
                    dep).stdout.split()
    assert mode == [f"container:{tgt}", "0"], (d.name, mode)
    r = d.docker("start", dep)
    assert r.returncode == 0, (d.name, r.stderr)
    assert d.docker("wait", dep).stdout.strip() == "0"
    logs = d.docker("logs", dep).stdout
    assert logs.split("\n")[:2] == ["tgthost", "from-loopback"], (d.name, logs)

    # The other container stopped: the joining one cannot start.
    d.docker("stop", "-t", "0", tgt)
    r = d.docker("start", dep)
    assert r.returncode != 0
    assert f"cannot join network of a non running container: {tgt}" in r.stderr, (d.name, r.stderr)

    # A container that did not exist at create fails at start, by the name given.
    ghost = d.docker("create", "--network", "container:nosuchctr", image, "true").stdout.strip()
    assert ghost
    r = d.docker("start", ghost)
    assert r.returncode != 0 and "No such container: nosuchctr" in r.stderr, (d.name, r.stderr)
    state = d.docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}",
                     ghost).stdout.strip()
    assert state == "created 128 No such container: nosuchctr", (d.name, state)


@pytest.mark.backends("memory", reason="the harness's dockerd runs with --iptables=false")
def test_bridge_networks_are_isolated_from_each_other(sockerlessd, busybox):
    """As dockerd's isolation chains: containers on different bridge networks cannot reach
    each other's addresses; an internal network forwards nothing in or out; a container on
    both networks reaches both."""
    d = sockerlessd
    for args in (["--subnet", "10.241.0.0/24", "isoa"], ["--subnet", "10.242.0.0/24", "isob"],
                 ["--internal", "--subnet", "10.243.0.0/24", "isoc"]):
        assert d.docker("network", "create", *args).returncode == 0
    serve = ["sh", "-c", "echo reached > /tmp/x; exec nc -ll -p 7000 -e cat /tmp/x"]
    for name, net, ip in (("srva", "isoa", "10.241.0.10"), ("srvc", "isoc", "10.243.0.10")):
        assert d.docker("run", "-d", "--name", name, "--network", net, "--ip", ip, busybox,
                        *serve).returncode == 0

    def reach(net: str, ip: str) -> bool:
        r = d.docker("run", "--rm", "--network", net, busybox, "sh", "-c",
                     f"nc -w 2 {ip} 7000 </dev/null", timeout=30)
        return r.stdout.strip() == "reached"

    assert reach("isoa", "10.241.0.10")       # same network
    assert not reach("isob", "10.241.0.10")   # another bridge
    assert not reach("isob", "10.243.0.10")   # into an internal network
    assert reach("isoc", "10.243.0.10")       # inside the internal network
    assert not reach("isoc", "10.241.0.10")   # out of an internal network
    both = d.docker("create", "--network", "isob", busybox, "sh", "-c",
                    "nc -w 2 10.241.0.10 7000 </dev/null").stdout.strip()
    assert d.docker("network", "connect", "isoa", both).returncode == 0
    assert d.docker("start", "-a", both).stdout.strip() == "reached"


def test_mac_address_on_the_interface_and_in_inspect(target):
    """Config.MacAddress (API 1.41, as dockerd 20.10 takes it): the container's interface has
    it, and inspect shows it at the top of NetworkSettings and on the network's endpoint, as
    network inspect does; upper case and dashes are accepted; an invalid one is dockerd's 400."""
    d, image = target
    assert d.docker("network", "create", "macnet").returncode == 0

    def run(mac):
        r = d.raw("POST", "/v1.41/containers/create",
                  {"Image": image, "Cmd": ["sleep", "60"], "MacAddress": mac,
                   "HostConfig": {"NetworkMode": "macnet"}})
        assert r.status == 201, (d.name, r)
        cid = r.json()["Id"]
        assert d.docker("start", cid).returncode == 0
        return cid

    try:
        cid = run("02:42:ac:11:ab:cd")
        r = d.docker("exec", cid, "cat", "/sys/class/net/eth0/address")
        assert r.stdout.strip() == "02:42:ac:11:ab:cd", (d.name, r.stderr)
        doc = d.raw("GET", f"/v1.41/containers/{cid}/json").json()
        settings = doc["NetworkSettings"]
        # The top-level fields are the default bridge's only.
        assert (doc["Config"]["MacAddress"], settings["Networks"]["macnet"]["MacAddress"],
                settings["MacAddress"]) == ("02:42:ac:11:ab:cd", "02:42:ac:11:ab:cd", ""), (
            d.name, settings)
        net = json.loads(d.docker("network", "inspect", "macnet").stdout)[0]
        assert net["Containers"][cid]["MacAddress"] == "02:42:ac:11:ab:cd"
        cid2 = run("02-42-AC-11-AB-CE")
        r = d.docker("exec", cid2, "cat", "/sys/class/net/eth0/address")
        assert r.stdout.strip() == "02:42:ac:11:ab:ce", (d.name, r.stderr)
        assert d.docker("inspect", "-f", "{{.NetworkSettings.Networks.macnet.MacAddress}}",
                        cid2).stdout.strip() == "02:42:ac:11:ab:ce"

        bad = d.raw("POST", "/v1.41/containers/create",
                    {"Image": image, "Cmd": ["true"], "MacAddress": "not-a-mac",
                     "HostConfig": {"NetworkMode": "macnet"}})
        assert bad.status == 201, (d.name, bad)  # dockerd 20.10 refuses it at the start
        st = d.raw("POST", f"/v1.41/containers/{bad.json()['Id']}/start")
        assert (st.status, st.json()["message"]) == (
            500, "address not-a-mac: invalid MAC address"), (d.name, st)
    finally:
        ids = d.docker("ps", "-aq").stdout.split()
        if ids:
            d.docker("rm", "-f", *ids)
        d.docker("network", "rm", "macnet")


@pytest.mark.backends("memory", reason="API 1.44 (the docker backend's dockerd speaks 1.41) and "
                      "the default bridge, which the harness's dockerd runs without")
def test_mac_address_per_endpoint_from_api_1_44(sockerlessd, busybox):
    """API 1.44: each endpoint's MacAddress (the CLI's --mac-address now goes there), shown
    at the top of NetworkSettings on the default bridge; a bad one is a 400 at create."""
    d = sockerlessd
    cid = d.docker("run", "-d", "--mac-address", "02:42:ac:11:ab:01", busybox, "sleep",
                   "60").stdout.strip()
    try:
        assert d.docker("exec", cid, "cat", "/sys/class/net/eth0/address").stdout.strip() == (
            "02:42:ac:11:ab:01")
        settings = json.loads(d.docker("inspect", cid).stdout)[0]["NetworkSettings"]
        assert settings["MacAddress"] == settings["Networks"]["bridge"]["MacAddress"] == (
            "02:42:ac:11:ab:01")
        assert "DesiredMacAddress" not in settings["Networks"]["bridge"]
        # Once stopped the endpoint has no address, and the next start has the same MAC.
        d.docker("stop", "-t", "0", cid)
        assert d.docker("inspect", "-f", "{{.NetworkSettings.MacAddress}}",
                        cid).stdout.strip() == ""
        d.docker("start", cid)
        assert d.docker("exec", cid, "cat", "/sys/class/net/eth0/address").stdout.strip() == (
            "02:42:ac:11:ab:01")
    finally:
        d.docker("rm", "-f", cid)
    bad = d.raw("POST", "/v1.44/containers/create",
                {"Image": busybox, "Cmd": ["true"],
                 "NetworkingConfig": {"EndpointsConfig": {"bridge": {"MacAddress": "zz"}}}})
    assert (bad.status, bad.json()["message"]) == (
        400, "invalid config for network bridge: invalid MAC address zz")
    # Before 1.44 an endpoint's MacAddress was ignored.
    old = d.raw("POST", "/v1.41/containers/create",
                {"Image": busybox, "Cmd": ["cat", "/sys/class/net/eth0/address"],
                 "NetworkingConfig": {"EndpointsConfig": {"bridge": {"MacAddress": "zz"}}}})
    assert old.status == 201, old
    cid = old.json()["Id"]
    try:
        d.docker("start", "-a", cid)
        assert d.docker("logs", cid).stdout.strip().startswith("02:42:ac:")
    finally:
        d.docker("rm", "-f", cid)


def daemon_bridges(data_root: str) -> list[str]:
    import sqlite3
    con = sqlite3.connect(f"file:{data_root}/sockerless.db?mode=ro", uri=True, timeout=2)
    try:
        return [b for (doc,) in con.execute("SELECT doc FROM networks")
                if (b := json.loads(doc).get("bridge"))]
    finally:
        con.close()


@pytest.mark.backends("memory", reason="iptables rules are the memory backend's bridge networks'")
@pytest.mark.timeout(120)
def test_iptables_and_ip_forward_false_leave_the_firewall_alone(sockerlessd_factory, registry):
    """As dockerd's --iptables=false --ip-forward=false: bridged containers still run, get
    their addresses and reach their gateway, and no rule for any of the daemon's networks
    is added (so no NAT); --ip-forward=false is taken too (the host's sysctl is the host's,
    not asserted here)."""
    d = sockerlessd_factory.start("--iptables=false", "--ip-forward=false")
    image = registry.ref("busybox:latest")
    assert d.docker("pull", "-q", image, timeout=60).returncode == 0
    assert d.docker("network", "create", "--subnet", "10.247.0.0/24", "noipt").returncode == 0
    try:
        for net, gateway in (("noipt", "10.247.0.1"), ("bridge", None)):
            if gateway is None:
                doc = json.loads(d.docker("network", "inspect", "bridge").stdout)[0]
                gateway = doc["IPAM"]["Config"][0]["Gateway"]
            r = d.docker("run", "--rm", "--network", net, image, "sh", "-c",
                         f"ip -4 -o addr show eth0 && ping -c1 -W2 {gateway}", timeout=30)
            assert r.returncode == 0, (net, r.stdout, r.stderr)
            assert "1 packets received" in r.stdout
        bridges = daemon_bridges(d.data_root)
        assert len(bridges) == 2, bridges
        for table, chain in (("nat", "POSTROUTING"), ("filter", "FORWARD")):
            rules = subprocess.run(["iptables", "-w", "-t", table, "-S", chain],
                                   capture_output=True, text=True).stdout.splitlines()
            mine = [r for r in rules if any(b in r.split() for b in bridges) or "10.247.0.0/24" in r]
            assert mine == [], (table, mine)
        info = d.client().info()
        assert not any("NAT" in w for w in info.get("Warnings") or []), info.get("Warnings")
    finally:
        d.docker("network", "rm", "noipt")


def test_requested_addresses_checked_at_start_and_connect_as_dockerd(pair):
    """IPAMConfig.IPv4Address/IPv6Address: create checks only that they parse; start and
    connect check that the network takes them (a subnet of that family given at its
    create, inside it, free), with dockerd 20.10's statuses and words."""
    V = "/v1.41"

    def answer(r):
        return r.status, (r.json().get("message") if r.body else None)

    def scenario(d, img):
        res = {}
        assert d.docker("network", "create", "ip-nosub").returncode == 0
        assert d.docker("network", "create", "--subnet", "10.199.7.0/24", "ip-sub").returncode == 0

        def create(name, network, ipam, cmd=("true",)):
            return d.raw("POST", f"{V}/containers/create?name={name}", {
                "Image": img, "Cmd": list(cmd), "HostConfig": {"NetworkMode": network},
                "NetworkingConfig": {"EndpointsConfig": {network: {"IPAMConfig": ipam}}}})

        for key, (network, ipam) in {
            "no_subnet": ("ip-nosub", {"IPv4Address": "10.199.7.5"}),
            "outside": ("ip-sub", {"IPv4Address": "10.199.8.5"}),
            "gateway": ("ip-sub", {"IPv4Address": "10.199.7.1"}),
            "ipv6": ("ip-sub", {"IPv6Address": "fd00::5"}),
        }.items():
            name = "ip-" + key.replace("_", "-")
            res[key] = (create(name, network, ipam).status,
                        answer(d.raw("POST", f"{V}/containers/{name}/start")))
        res["bad_v4"] = answer(create("ip-bad", "ip-sub", {"IPv4Address": "10.199.7"}))
        # Connect: a stopped container's endpoint is recorded (a second connect changes
        # nothing), a running one's is made at once.
        assert d.docker("create", "--name", "ip-cc", "--network", "ip-nosub", img, "sleep",
                        "300").returncode == 0
        cid = d.docker("inspect", "-f", "{{.Id}}", "ip-cc").stdout.strip()

        def connect(container, network, ip):
            return answer(d.raw("POST", f"{V}/networks/{network}/connect", {
                "Container": container, "EndpointConfig": {"IPAMConfig": {"IPv4Address": ip}}}))

        res["connect_no_subnet"] = connect("ip-cc", "ip-nosub", "10.199.7.9")
        res["connect_stopped"] = connect("ip-cc", "ip-sub", "10.199.7.9")
        res["connect_stopped_again"] = connect("ip-cc", "ip-sub", "10.199.7.10")
        ep = d.raw("GET", f"{V}/containers/ip-cc/json").json()["NetworkSettings"]["Networks"]["ip-sub"]
        res["stopped_endpoint"] = (ep["IPAMConfig"], ep["Aliases"] == [cid[:12]])
        assert d.docker("start", "ip-cc").returncode == 0
        res["started_address"] = d.docker(
            "inspect", "-f", '{{(index .NetworkSettings.Networks "ip-sub").IPAddress}}',
            "ip-cc").stdout.strip()
        assert d.docker("run", "-d", "--name", "ip-r", "--network", "ip-nosub", img, "sleep",
                        "300").returncode == 0
        res["connect_outside"] = connect("ip-r", "ip-sub", "10.199.8.9")
        res["connect_in_use"] = connect("ip-r", "ip-sub", "10.199.7.9")
        res["connect_running"] = connect("ip-r", "ip-sub", "10.199.7.11")
        res["connect_running_again"] = connect("ip-r", "ip-sub", "10.199.7.12")
        return res

    outs = {}
    for name in ("sockerlessd", "dockerd"):
        d = pair[name]
        try:
            outs[name] = scenario(d, pair["image"])
        finally:
            ids = d.docker("ps", "-aq").stdout.split()
            if ids:
                d.docker("rm", "-f", *ids, timeout=60)
            d.docker("network", "rm", "ip-nosub", "ip-sub")
    assert outs["sockerlessd"] == outs["dockerd"]
    got = outs["dockerd"]
    no_subnet = ("user specified IP address is supported only when connecting to networks "
                 "with user configured subnets")
    assert got["no_subnet"] == (201, (400, no_subnet))
    assert got["outside"] == (201, (500, "Invalid address 10.199.8.5: It does not belong to "
                                      "any of this network's subnets"))
    assert got["gateway"] == (201, (403, "Address already in use"))
    assert got["ipv6"] == (201, (400, no_subnet))
    assert got["bad_v4"] == (400, "invalid IPv4 address: 10.199.7")
    assert got["connect_stopped_again"] == (200, None)
    assert got["started_address"] == "10.199.7.9"
    assert got["connect_in_use"] == (403, "Address already in use")
    assert got["connect_running_again"][0] == 403


@pytest.mark.backends("memory", reason="the docker backend's networks are its engine's, IPv6 included")
def test_ipv6_networks_are_refused_with_a_reason(sockerlessd):
    """Deliberate difference (README): bridge networks are IPv4 only, so a network asking
    for IPv6 is a 400 saying so (dockerd makes an IPv6 subnet on the bridge), never a
    network quietly made without it."""
    for body in ({"Name": "v6", "EnableIPv6": True},
                 {"Name": "v6", "EnableIPv6": True,
                  "IPAM": {"Config": [{"Subnet": "fd00:77::/64"}]}},
                 {"Name": "v6", "IPAM": {"Config": [{"Subnet": "10.199.9.0/24"},
                                                    {"Subnet": "fd00:79::/64"}]}}):
        r = sockerlessd.raw("POST", "/v1.44/networks/create", body)
        assert r.status == 400, r
        assert "IPv4 only" in r.json()["message"], r
    assert sockerlessd.raw("GET", "/v1.44/networks/v6").status == 404

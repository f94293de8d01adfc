"""POST /containers/create with HostConfig.NetworkMode left empty and one network in
NetworkingConfig.EndpointsConfig (what testcontainers-go sends): the container joins that
network, with its aliases, on both engines."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(60)


def test_empty_network_mode_joins_the_endpoints_network(target):
    d, image = target
    net = f"tc-endpoints-{d.name}"
    assert d.docker("network", "create", net).returncode == 0
    cid = None
    try:
        r = d.raw("POST", "/v1.41/containers/create", {
            "Image": image, "Cmd": ["sleep", "30"], "HostConfig": {"NetworkMode": ""},
            "NetworkingConfig": {"EndpointsConfig": {net: {"Aliases": ["web", "www.internal"]}}}})
        assert r.status == 201, r
        cid = r.json()["Id"]
        assert d.raw("POST", f"/v1.41/containers/{cid}/start").status == 204
        j = d.raw("GET", f"/v1.41/containers/{cid}/json").json()
        assert list(j["NetworkSettings"]["Networks"]) == [net], j["NetworkSettings"]["Networks"]
        assert {"web", "www.internal"} <= set(j["NetworkSettings"]["Networks"][net]["Aliases"])
        assert j["HostConfig"]["NetworkMode"] == "default", j["HostConfig"]["NetworkMode"]
        r = d.docker("run", "--rm", "--network", net, image, "nslookup", "www.internal")
        assert r.returncode == 0, r
    finally:
        if cid:
            d.docker("rm", "-f", cid)
        d.docker("network", "rm", net)

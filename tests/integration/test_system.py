"""System API: /_ping, /version, /info, /system/df — docker CLI, SDK and raw HTTP.

Reference facts (Debian docker.io 20.10.24, API 1.41) are recorded in README.md.
"""

from __future__ import annotations

import json
import re

import pytest

API_VERSION = "1.44"
MIN_API_VERSION = "1.24"

# Header names every Docker engine puts on /_ping (besides Date/Content-*).
PING_HEADERS = {"api-version", "docker-experimental", "ostype", "server",
                "cache-control", "pragma"}

# /info keys dockerd 20.10 returns that sockerless deliberately does not have to:
INFO_KEY_EXCEPTIONS = {
    # Kernel-memory limits were deprecated in 20.10 and removed in Engine 23 (API 1.42);
    # the v1.44 SystemInfo schema no longer lists the field.
    "KernelMemory": "removed from the API in v1.42",
}


def _json_type(v):
    return type(v).__name__


# ------------------------------------------------------------------------ version


def test_cli_version_sockerless(sockerlessd, api_max):
    r = sockerlessd.docker("version")
    assert r.returncode == 0, r.stderr
    assert "Server:" in r.stdout, r.stdout

    def fmt(tmpl):
        p = sockerlessd.docker("version", "--format", tmpl)
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()

    assert fmt("{{.Server.Platform.Name}}") == "sockerless"
    assert fmt("{{.Server.APIVersion}}") == api_max
    assert fmt("{{.Server.MinAPIVersion}}") == MIN_API_VERSION
    # The CLI (max API 1.50) negotiates down using the Api-Version header of /_ping.
    assert fmt("{{.Client.APIVersion}}") == api_max


def test_cli_version_engine(engine):
    r = engine.docker("version", "--format", "{{json .Server}}")
    assert r.returncode == 0, r.stderr
    server = json.loads(r.stdout)
    assert server is not None, "docker version reported no Server section"
    names = [c["Name"] for c in server.get("Components") or []]
    assert "Engine" in names, names  # `docker version` prints the "Engine:" block from it
    assert re.fullmatch(r"1\.\d+", server["ApiVersion"]), server
    assert re.fullmatch(r"1\.\d+", server["MinAPIVersion"]), server


def test_sdk_version_ping_info(sockerlessd, api_max):
    c = sockerlessd.client()
    assert c.ping() is True
    assert c.api.api_version == api_max  # SDK auto-negotiation via GET /version
    v = c.version()
    assert v["ApiVersion"] == api_max
    assert v["MinAPIVersion"] == MIN_API_VERSION
    assert v["Platform"]["Name"] == "sockerless"
    assert v["Os"] == "linux"
    assert v["Version"], v
    info = c.info()
    assert info["ID"], info
    assert info["OSType"] == "linux"


def test_version_keys_superset_of_dockerd(sockerlessd, dockerd):
    ours = sockerlessd.raw("GET", "/version")
    ref = dockerd.raw("GET", "/version")
    assert ours.status == 200 and ref.status == 200
    assert ours.content_type.startswith("application/json"), ours
    o, d = ours.json(), ref.json()
    missing = set(d) - set(o)
    assert not missing, f"/version lacks dockerd keys {sorted(missing)}"
    for comp in o["Components"]:
        assert {"Name", "Version"} <= set(comp), comp
    for k in set(d) & set(o):
        if d[k] is not None:
            assert _json_type(o[k]) == _json_type(d[k]), (k, o[k], d[k])


# --------------------------------------------------------------------------- info


def test_cli_info_clean(engine):
    r = engine.docker("info")
    assert r.returncode == 0, r.stderr
    assert "error" not in r.stderr.lower(), r.stderr
    for line in (r.stdout + r.stderr).splitlines():
        s = line.strip()
        assert not s.startswith("ERROR"), line
        assert "errors pretty printing info" not in s, line
        if s.startswith("WARNING"):
            assert "failed" not in s.lower(), line
    assert "Server Version:" in r.stdout, r.stdout


def test_cli_info_json_keys_superset_of_dockerd(sockerlessd, dockerd):
    def keys(d):
        r = d.docker("info", "--format", "{{json .}}")
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert not doc.get("ServerErrors"), doc.get("ServerErrors")
        return set(doc)

    missing = keys(dockerd) - keys(sockerlessd) - set(INFO_KEY_EXCEPTIONS)
    # Some CLI struct fields are `omitempty` (e.g. KernelMemoryTCP): a zero value the
    # daemon did send is dropped by the CLI's re-encoding. Not a missing key.
    raw = sockerlessd.raw("GET", "/info").json()
    missing = {k for k in missing if not (k in raw and raw[k] in (False, 0, "", None, [], {}))}
    assert not missing, f"docker info JSON lacks keys {sorted(missing)}"


def test_info_raw_keys_and_types_match_dockerd(sockerlessd, dockerd):
    o = sockerlessd.raw("GET", "/info").json()
    d = dockerd.raw("GET", "/info").json()
    missing = set(d) - set(o) - set(INFO_KEY_EXCEPTIONS)
    assert not missing, f"/info lacks dockerd keys {sorted(missing)}"
    wrong = {k: (_json_type(o[k]), _json_type(d[k]))
             for k in set(d) & set(o)
             if d[k] is not None and _json_type(o[k]) != _json_type(d[k])}
    assert not wrong, f"/info value types differ from dockerd (ours, dockerd): {wrong}"


@pytest.mark.backends("memory", reason="asserts sockerless's own data root and identity")
def test_info_fresh_daemon_values(sockerlessd):
    info = sockerlessd.raw("GET", "/info").json()
    assert info["DockerRootDir"] == sockerlessd.data_root
    assert info["OSType"] == "linux"
    assert isinstance(info["NCPU"], int) and info["NCPU"] > 0
    assert isinstance(info["MemTotal"], int) and info["MemTotal"] > 0
    for k in ("Containers", "ContainersRunning", "ContainersPaused", "ContainersStopped",
              "Images"):
        assert info[k] == 0, (k, info[k])
    assert info["ServerVersion"], info


# ----------------------------------------------------------------------- system df


def test_system_df(engine):
    r = engine.docker("system", "df")
    assert r.returncode == 0, r.stderr
    assert "Images" in r.stdout and "Local Volumes" in r.stdout, r.stdout
    r = engine.docker("system", "df", "-v")
    assert r.returncode == 0, r.stderr
    assert "Images space usage" in r.stdout, r.stdout
    df = engine.client().df()
    assert {"LayersSize", "Images", "Containers", "Volumes", "BuildCache"} <= set(df), df


def test_system_df_empty_daemon(sockerlessd):
    r = sockerlessd.raw("GET", "/system/df")
    assert r.status == 200, r
    assert r.content_type.startswith("application/json"), r
    df = r.json()
    assert df["LayersSize"] == 0
    assert df["Images"] == [] and df["Containers"] == [] and df["Volumes"] == []
    assert df["BuildCache"] in (None, [])


# --------------------------------------------------------------------------- ping


def test_ping_get(engine):
    r = engine.raw("GET", "/_ping")
    assert r.status == 200, r
    assert r.body == b"OK"
    assert PING_HEADERS <= r.header_names(), r.headers.items()
    assert r.headers["Cache-Control"] == "no-cache, no-store, must-revalidate"
    assert r.headers["Pragma"] == "no-cache"
    assert r.headers["Ostype"] == "linux"
    assert r.headers["Docker-Experimental"] in ("true", "false")
    assert r.headers["Server"], r.headers.items()
    assert r.content_type.startswith("text/plain"), r
    # Api-Version advertises the same maximum /version reports.
    assert r.headers["Api-Version"] == engine.raw("GET", "/version").json()["ApiVersion"]


def test_ping_head(engine):
    r = engine.raw("HEAD", "/_ping")
    assert r.status == 200, r
    assert r.body == b""
    assert PING_HEADERS <= r.header_names(), r.headers.items()
    assert r.headers["Cache-Control"] == "no-cache, no-store, must-revalidate"
    assert r.headers["Pragma"] == "no-cache"


def test_ping_api_version_header_sockerless(sockerlessd, api_max):
    r = sockerlessd.raw("GET", "/_ping")
    assert r.headers["Api-Version"] == api_max


def test_ping_header_names_match_dockerd(sockerlessd, dockerd):
    for method in ("GET", "HEAD"):
        ours = sockerlessd.raw(method, "/_ping").header_names()
        ref = dockerd.raw(method, "/_ping").header_names()
        missing = ref - ours
        assert not missing, f"{method} /_ping lacks headers {sorted(missing)} (ours: {sorted(ours)})"


def test_ping_versioned_paths(sockerlessd, api_max):
    # Up to sockerless's own version, even when the engine underneath is older (lowered).
    for v in (API_VERSION, MIN_API_VERSION, "1.41"):
        r = sockerlessd.raw("GET", f"/v{v}/_ping")
        assert r.status == 200, (v, r)
        assert r.body == b"OK"
        r = sockerlessd.raw("GET", f"/v{v}/version")
        assert r.status == 200, (v, r)
        assert r.json()["ApiVersion"] == api_max

"""Error responses: unknown routes, API version negotiation, unimplemented routes.

dockerd 20.10 reference (observed, see README.md):
  GET /nope, GET /v1.41/nope, DELETE /_ping, POST /version
      -> 404, Content-Type application/json, body {"message":"page not found"}\\n
  GET /v9.99/version
      -> 400 application/json {"message":"client version 9.99 is too new. Maximum supported API version is 1.41"}
  GET /v1.11/version (dockerd 20.10's minimum is 1.12, so /v1.12 succeeds there)
      -> 400 text/plain "client version 1.11 is too old. Minimum supported API version is 1.12, please upgrade your client to a newer version"
     (20.10 writes this one with http.Error, hence text/plain; Engine >= 25 returns it as JSON.
      sockerless follows the modern behaviour: JSON.)
"""

from __future__ import annotations

import re

import pytest

MIN_API_VERSION = "1.24"

TOO_NEW = "client version {v} is too new. Maximum supported API version is {max}"
TOO_OLD = ("client version {v} is too old. Minimum supported API version is {min}, "
           "please upgrade your client to a newer version")


def _is_json(r) -> bool:
    return r.content_type.split(";")[0].strip() == "application/json"


def _message(r) -> str:
    """Error message from a JSON body, or the plain-text body (dockerd 20.10 quirk)."""
    if _is_json(r):
        return r.json()["message"]
    return r.text.strip()


def _lower_version(v: str) -> str:
    major, minor = v.split(".")
    return f"{major}.{int(minor) - 1}"


# ---------------------------------------------------------------- unknown routes


@pytest.mark.parametrize("method,path", [
    ("GET", "/nope"),
    ("GET", "/v1.41/nope"),
    ("POST", "/version"),   # known path, wrong method: dockerd answers 404, not 405
    ("DELETE", "/_ping"),
])
def test_unknown_route_404(engine, method, path):
    r = engine.raw(method, path)
    assert r.status == 404, r
    assert _is_json(r), r
    assert r.json() == {"message": "page not found"}


# ------------------------------------------------------------ version negotiation


def test_version_too_new(engine):
    max_v = engine.raw("GET", "/version").json()["ApiVersion"]
    r = engine.raw("GET", "/v9.99/version")
    assert r.status == 400, r
    assert _is_json(r), r
    assert r.json()["message"] == TOO_NEW.format(v="9.99", max=max_v)


def test_version_too_new_sockerless_exact(sockerlessd, api_max):
    r = sockerlessd.raw("GET", "/v9.99/version")
    assert r.status == 400, r
    assert _is_json(r), r
    assert r.json() == {"message": TOO_NEW.format(v="9.99", max=api_max)}


def test_version_too_new_same_shape_as_dockerd(sockerlessd, dockerd):
    norm = lambda s: re.sub(r"is \d+\.\d+$", "is <max>", s)  # noqa: E731
    ours = sockerlessd.raw("GET", "/v9.99/version")
    ref = dockerd.raw("GET", "/v9.99/version")
    assert (ours.status, _is_json(ours)) == (ref.status, _is_json(ref))
    assert norm(ours.json()["message"]) == norm(ref.json()["message"])


def test_version_too_old(engine):
    """One minor version below the engine's own MinAPIVersion is rejected with 400."""
    min_v = engine.raw("GET", "/version").json()["MinAPIVersion"]
    below = _lower_version(min_v)
    r = engine.raw("GET", f"/v{below}/version")
    assert r.status == 400, r
    assert _message(r) == TOO_OLD.format(v=below, min=min_v)
    # ...and MinAPIVersion itself is accepted.
    assert engine.raw("GET", f"/v{min_v}/version").status == 200


@pytest.mark.parametrize("v", ["1.12", "1.23", "1.0"])
def test_version_too_old_sockerless_exact(sockerlessd, v):
    r = sockerlessd.raw("GET", f"/v{v}/version")
    assert r.status == 400, r
    assert _is_json(r), r  # modern engines return JSON here (20.10 used text/plain)
    assert r.json() == {"message": TOO_OLD.format(v=v, min=MIN_API_VERSION)}


def test_cli_reports_version_errors(engine):
    """The CLI pinned to an unsupported version shows the daemon's message."""
    max_v = engine.raw("GET", "/version").json()["ApiVersion"]
    r = engine.docker("version", env={"DOCKER_API_VERSION": "9.99"})
    assert r.returncode != 0
    assert ("Error response from daemon: " + TOO_NEW.format(v="9.99", max=max_v)) in r.stderr


def test_sdk_raises_api_error_for_unknown_route(sockerlessd):
    import docker.errors

    c = sockerlessd.client()
    with pytest.raises(docker.errors.NotFound) as ei:
        c.api._result(c.api._get(c.api._url("/nope")), json=True)
    assert "page not found" in str(ei.value)


# -------------------------------------------------------------- not implemented


@pytest.mark.backends("memory", reason="the docker backend forwards every route, built or not")
@pytest.mark.provisional
def test_unimplemented_route_501_sockerless(sockerlessd):
    """PROVISIONAL: image search and plugins are not implemented yet, so sockerless must
    say so with 501 and a JSON message naming the operation (never a fake success). This
    test moves to another operation once those land."""
    r = sockerlessd.raw("GET", "/images/search?term=busybox")
    assert r.status == 501, r
    assert _is_json(r), r
    msg = r.json()["message"]
    assert re.search(r"ImageSearch", msg) and "GET /images/search" in msg, msg
    r = sockerlessd.raw("POST", "/plugins/pull?remote=x", body=[])
    assert r.status == 501, r
    assert "PluginPull" in r.json()["message"]

"""TCP + mutual TLS, like `dockerd --tlsverify`: the client must present a certificate
signed by --tlscacert; the server certificate carries SAN IP:127.0.0.1, DNS:localhost."""

from __future__ import annotations

import http.client
import ssl

import pytest

from harness import SockerlessFactory, free_tcp_port, tcp_request


@pytest.fixture(scope="module")
def tls_daemon(docker_config, tls_files, backend_args):
    f = SockerlessFactory(docker_config, backend_args=backend_args)
    try:
        port = free_tcp_port()
        # The unix socket (plain) stays for the readiness probe; TLS applies to tcp://.
        d = f.start("-H", f"tcp://127.0.0.1:{port}", *tls_files.server_args())
        d.tcp = f"tcp://127.0.0.1:{port}"
        d.port = port
        yield d
    finally:
        f.close()


def _ctx(tls_files, cert: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=tls_files.ca)
    if cert == "good":
        ctx.load_cert_chain(tls_files.client_cert, tls_files.client_key)
    elif cert == "rogue":
        ctx.load_cert_chain(tls_files.rogue_cert, tls_files.rogue_key)
    return ctx


def test_cli_version_over_mutual_tls(tls_daemon, tls_files, api_max):
    r = tls_daemon.docker("version", "--format", "{{.Server.Platform.Name}} {{.Server.APIVersion}}",
                          host_args=tls_files.client_args(tls_daemon.tcp, cert="good"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"sockerless {api_max}"


@pytest.mark.parametrize("cert", [None, "rogue"], ids=["no-client-cert", "rogue-ca-cert"])
def test_cli_rejected_without_valid_client_cert(tls_daemon, tls_files, cert):
    r = tls_daemon.docker("version", host_args=tls_files.client_args(tls_daemon.tcp, cert=cert),
                          timeout=20)
    assert r.returncode != 0, r.stdout
    assert "Server:" not in r.stdout or "sockerless" not in r.stdout


def test_sdk_over_mutual_tls(tls_daemon, tls_files, monkeypatch, api_max):
    import docker
    import docker.tls

    # requests lets these env vars override the session's CA bundle (psf/requests#3829).
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)

    tls = docker.tls.TLSConfig(client_cert=(tls_files.client_cert, tls_files.client_key),
                               ca_cert=tls_files.ca, verify=True)
    c = docker.DockerClient(base_url=f"https://127.0.0.1:{tls_daemon.port}", tls=tls,
                            timeout=10)
    try:
        assert c.ping() is True
        assert c.version()["ApiVersion"] == api_max
    finally:
        c.close()


def test_raw_tls_server_identity_and_client_auth(tls_daemon, tls_files):
    # Verifies the server chain and SAN IP:127.0.0.1 (check_hostname is on).
    r = tcp_request("127.0.0.1", tls_daemon.port, "GET", "/_ping",
                    ssl_context=_ctx(tls_files, "good"))
    assert (r.status, r.body) == (200, b"OK")
    for cert in (None, "rogue"):
        try:
            r = tcp_request("127.0.0.1", tls_daemon.port, "GET", "/_ping",
                            ssl_context=_ctx(tls_files, cert), timeout=5)
        except (ssl.SSLError, ConnectionError, OSError):
            continue  # handshake or post-handshake alert: rejected, as it must be
        pytest.fail(f"request with client cert={cert!r} was answered: {r!r}")


def test_plain_http_on_tls_port_not_served(tls_daemon):
    try:
        r = tcp_request("127.0.0.1", tls_daemon.port, "GET", "/_ping", timeout=5)
    except (OSError, http.client.HTTPException):
        return  # connection dropped / garbage instead of an HTTP response: fine
    assert r.status != 200, r


def test_unix_socket_still_plain(tls_daemon):
    assert tls_daemon.raw("GET", "/_ping").status == 200

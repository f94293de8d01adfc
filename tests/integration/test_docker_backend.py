"""The docker backend's own promises: sockerlessd in front of a real dockerd streams large
bodies both ways in constant memory, and an engine that dies mid-request gives a clean
error, not a hang, and is picked up again when it comes back, without a restart.

The suites shared with the memory backend run through this backend with
SOCKERLESS_TEST_BACKEND=docker (see conftest.py); these are the scenarios only it has."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time

import pytest

from harness import DOCKER_CLI, cli_env, free_tcp_port, make_tmpdir, run_dockerd, wait_until

pytestmark = pytest.mark.backends("docker", reason="scenarios of the docker backend itself")

BIG = 100 * 1024 * 1024


def peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def sha256_of_stream(argv: list[str], env) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    with subprocess.Popen(argv, stdout=subprocess.PIPE, env=env) as p:
        while chunk := p.stdout.read(1 << 20):
            h.update(chunk)
            n += len(chunk)
        assert p.wait(120) == 0, argv
    return h.hexdigest(), n


@pytest.mark.timeout(300)
def test_large_bodies_stream_in_constant_memory(sockerlessd, backing_dockerd, registry, tmp_path):
    ref = f"{registry.host}/busybox:latest"
    assert sockerlessd.docker("pull", "-q", ref, timeout=60).returncode == 0
    # An image with a 100 MiB layer, built through sockerless.
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        f"FROM {ref}\nRUN dd if=/dev/urandom of=/big bs=1048576 count=100 2>/dev/null\n")
    r = sockerlessd.docker("build", "-q", "-t", "big:1", str(ctx), timeout=240,
                           env={"DOCKER_BUILDKIT": "0"})
    assert r.returncode == 0, r.stderr
    before = peak_rss_kib(sockerlessd.pid)

    env = cli_env(sockerlessd.docker_config)
    # docker save: byte for byte what the engine itself writes.
    via, n = sha256_of_stream([DOCKER_CLI, "-H", sockerlessd.host, "save", "big:1"], env)
    direct, m = sha256_of_stream([DOCKER_CLI, "-H", backing_dockerd.host, "save", "big:1"], env)
    assert n == m and n > BIG
    assert via == direct

    # docker cp out of a container: the file's tar, 100 MiB.
    cid = sockerlessd.docker("create", "big:1", "true").stdout.strip()
    want = sockerlessd.docker("run", "--rm", "big:1", "sha256sum", "/big").stdout.split()[0]
    out = tmp_path / "out"
    out.mkdir()
    r = sockerlessd.docker("cp", f"{cid}:/big", str(out / "big"), timeout=120)
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256((out / "big").read_bytes()).hexdigest() == want

    # docker cp into a container: 100 MiB of fresh bytes.
    src = tmp_path / "in"
    data = os.urandom(BIG)
    src.write_bytes(data)
    r = sockerlessd.docker("cp", str(src), f"{cid}:/copied", timeout=120)
    assert r.returncode == 0, r.stderr
    r = sockerlessd.docker("commit", cid, "big:copied")
    assert r.returncode == 0, r.stderr
    got = sockerlessd.docker("run", "--rm", "big:copied", "sha256sum", "/copied").stdout.split()[0]
    assert got == hashlib.sha256(data).hexdigest()

    after = peak_rss_kib(sockerlessd.pid)
    print(f"sockerlessd peak RSS: {before} KiB before, {after} KiB after moving "
          f"{(n + 2 * BIG) >> 20} MiB")
    # Relayed, not buffered: the peak grows by far less than one of the bodies.
    assert after - before < 32 * 1024, (before, after)


@pytest.mark.timeout(180)
def test_engine_dying_mid_request_then_coming_back(docker_config, sockerlessd_factory):
    links = make_tmpdir("engine-link-")
    link = os.path.join(links, "engine.sock")
    try:
        with run_dockerd(docker_config, "killable-dockerd") as first:
            os.symlink(first.sock, link)
            s = sockerlessd_factory.start("--docker-host", f"unix://{link}")
            env = cli_env(s.docker_config)
            events = subprocess.Popen([DOCKER_CLI, "-H", s.host, "events"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env=env)
            try:
                time.sleep(1)
                assert events.poll() is None  # the stream is open
                os.killpg(first.pid, signal.SIGKILL)  # dockerd and its containerd
                # The open stream ends with an error instead of hanging.
                rc = events.wait(20)
                err = events.stderr.read()
                assert rc != 0, err
            finally:
                if events.poll() is None:
                    events.kill()
                events.wait()
            # New requests fail fast, naming the engine.
            t0 = time.monotonic()
            r = s.docker("ps")
            assert r.returncode != 0
            assert f"cannot connect to the Docker engine at unix://{link}" in r.stderr, r.stderr
            assert time.monotonic() - t0 < 10
            raw = s.raw("GET", "/v1.41/containers/json")
            assert raw.status == 502, raw
            assert "docker backend" in raw.json()["message"]
        # The engine comes back (a new dockerd behind the same address): picked up.
        with run_dockerd(docker_config, "second-dockerd") as second:
            os.unlink(link)
            os.symlink(second.sock, link)
            wait_until(lambda: s.docker("ps").returncode == 0, timeout=10,
                       what="sockerless reaching the new engine")
            r = s.docker("version", "--format", "{{.Server.Version}}")
            assert r.returncode == 0 and r.stdout.strip(), r.stderr
            r = s.docker("volume", "create", "comeback")
            assert r.returncode == 0, r.stderr
            assert "comeback" in second.docker("volume", "ls", "-q").stdout.split()
    finally:
        if os.path.lexists(link):
            os.unlink(link)
        os.rmdir(links)


@pytest.mark.timeout(120)
def test_engine_over_tcp_with_mutual_tls(docker_config, sockerlessd_factory, tls_files,
                                         tmp_path):
    """DOCKER_CERT_PATH semantics: ca.pem, cert.pem and key.pem from one directory; the
    engine's certificate is checked (the harness's certificates name 127.0.0.1)."""
    port = free_tcp_port()
    certs = tmp_path / "certs"
    certs.mkdir()
    for name, src in (("ca.pem", tls_files.ca), ("cert.pem", tls_files.client_cert),
                      ("key.pem", tls_files.client_key)):
        (certs / name).symlink_to(src)
    with run_dockerd(docker_config, "tls-dockerd",
                     ["-H", f"tcp://127.0.0.1:{port}", *tls_files.server_args()]) as engine:
        s = sockerlessd_factory.start("--docker-host", f"tcp://127.0.0.1:{port}",
                                      "--docker-tlsverify", "--docker-cert-path", str(certs))
        r = s.docker("version", "--format", "{{.Server.Platform.Name}} {{.Server.Version}}")
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("sockerless "), r.stdout
        r = s.docker("volume", "create", "over-tls")
        assert r.returncode == 0, r.stderr
        assert "over-tls" in engine.docker("volume", "ls", "-q").stdout.split()

        # Certificates from another CA: the engine is not trusted, and the error says so.
        rogue = tmp_path / "rogue"
        rogue.mkdir()
        for name, src in (("ca.pem", tls_files.rogue_ca), ("cert.pem", tls_files.rogue_cert),
                          ("key.pem", tls_files.rogue_key)):
            (rogue / name).symlink_to(src)
        bad = sockerlessd_factory.start("--docker-host", f"tcp://127.0.0.1:{port}",
                                        "--docker-tlsverify", "--docker-cert-path", str(rogue),
                                        wait=False)
        sock = os.path.join(bad.tmp, "sockerless.sock")
        wait_until(lambda: os.path.exists(sock), timeout=10, what="the daemon's socket")
        time.sleep(0.2)
        r = bad.raw("GET", "/_ping")
        assert r.status == 502, r
        assert f"TLS with the Docker engine at tcp://127.0.0.1:{port} failed" in r.json()["message"]

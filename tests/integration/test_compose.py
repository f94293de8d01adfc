"""Debian's docker-compose (1.29) against sockerless and the reference dockerd: the same
two-service stack on both engines -- a busybox httpd serving a named volume, a client that
waits for it to be healthy and reaches it by service name on a user-defined network, a port
published to the host -- through up, ps, logs, exec, run --rm, stop, start and down.

The issue names `wget` for the client; Debian's busybox-static wget segfaults (on the host
too), so the client speaks HTTP with `nc`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import textwrap

import pytest

from harness import cli_env, free_tcp_port, make_tmpdir, wait_until

pytestmark = [
    pytest.mark.skipif(not shutil.which("docker-compose"), reason="docker-compose not installed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="bridge networks need root"),
]

GET = r'printf "GET /index.html HTTP/1.0\r\n\r\n" | nc web 80'


class Stack:
    def __init__(self, daemon, image: str):
        self.daemon = daemon
        self.dir = make_tmpdir("compose-it-")
        self.project = f"slc{os.getpid()}{daemon.name[:4]}"
        self.port = free_tcp_port()
        with open(os.path.join(self.dir, "docker-compose.yml"), "w") as f:
            f.write(textwrap.dedent(f"""\
                version: "2.4"
                services:
                  web:
                    image: {image}
                    command: ["sh", "-c", "test -f /www/index.html || echo served-$$RANDOM$$RANDOM > /www/index.html; echo web-starting; exec httpd -f -v -p 80 -h /www"]
                    volumes: ["site:/www"]
                    ports: ["127.0.0.1:{self.port}:80"]
                    networks: [back]
                    healthcheck:
                      test: ["CMD-SHELL", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc 127.0.0.1 80 | grep -q 200"]
                      interval: 1s
                      timeout: 2s
                      retries: 20
                  client:
                    image: {image}
                    command: ["sh", "-c", "echo client-ready; exec sleep 1000"]
                    networks: [back]
                    depends_on:
                      web:
                        condition: service_healthy
                networks:
                  back: {{}}
                volumes:
                  site: {{}}
                """))

    def compose(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        env = cli_env(self.daemon.docker_config, {"DOCKER_HOST": self.daemon.host})
        return subprocess.run(["docker-compose", "-p", self.project, *args], cwd=self.dir,
                              capture_output=True, text=True, timeout=timeout, env=env)

    def ok(self, *args: str, timeout: float = 120) -> str:
        r = self.compose(*args, timeout=timeout)
        assert r.returncode == 0, (self.daemon.name, args, r.stdout, r.stderr)
        return r.stdout

    def states(self) -> dict[str, str]:
        out = self.daemon.docker("ps", "-a", "--filter", f"label=com.docker.compose.project={self.project}",
                                 "--format", "{{.Label \"com.docker.compose.service\"}} {{.State}}")
        return dict(line.split(" ", 1) for line in out.stdout.split("\n") if line)

    def volume(self) -> str:
        return f"{self.project}_site"

    def http_from_host(self) -> str:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
            chunks = []
            while data := s.recv(4096):
                chunks.append(data)
        return b"".join(chunks).decode()

    def close(self) -> None:
        self.compose("down", "-v", "-t", "1", "--remove-orphans", timeout=120)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def stack(target):
    daemon, image = target
    s = Stack(daemon, image)
    try:
        yield s
    finally:
        s.close()


@pytest.mark.timeout(300)
def test_compose_stack_lifecycle(stack):
    d = stack.daemon
    up = stack.compose("up", "-d")
    assert up.returncode == 0, (d.name, up.stdout, up.stderr)
    # depends_on service_healthy: the client was started only once web was healthy.
    health = d.docker("inspect", "-f", "{{.State.Health.Status}}", f"{stack.project}_web_1")
    assert health.stdout.strip() == "healthy", (d.name, health.stdout, health.stderr)
    assert stack.states() == {"web": "running", "client": "running"}

    ps = stack.ok("ps")
    assert f"{stack.project}_web_1" in ps and f"{stack.project}_client_1" in ps
    assert "(healthy)" in ps and f"127.0.0.1:{stack.port}->80/tcp" in ps, ps

    # The client reaches web by service name on the project's network.
    page = stack.ok("exec", "-T", "client", "sh", "-c", GET)
    assert " 200 OK" in page and "served-" in page, page
    served = page.rstrip("\n").rsplit("\n", 1)[-1]
    assert served.startswith("served-")

    # The published port reaches web from the host.
    assert stack.http_from_host().rstrip("\n").endswith(served)

    assert wait_until(lambda: "client-ready" in stack.ok("logs", "client"), timeout=10)
    assert "web-starting" in stack.ok("logs", "--no-color", "web")

    # run --rm: a one-off container on the same network, gone afterwards.
    before = set(d.docker("ps", "-aq").stdout.split())
    one_off = stack.ok("run", "--rm", "-T", "client", "sh", "-c", GET)
    assert one_off.rstrip("\n").endswith(served), one_off
    assert set(d.docker("ps", "-aq").stdout.split()) == before

    stack.ok("stop", "-t", "1", timeout=60)
    assert stack.states() == {"web": "exited", "client": "exited"}
    stack.ok("start")
    assert wait_until(lambda: stack.states() == {"web": "running", "client": "running"}, timeout=30)
    assert wait_until(lambda: stack.compose("exec", "-T", "client", "sh", "-c", GET).stdout
                      .rstrip("\n").endswith(served), timeout=30)

    # down without -v: containers and network go, the named volume and its data stay.
    stack.ok("down", "-t", "1", timeout=120)
    assert stack.states() == {}
    nets = d.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert f"{stack.project}_back" not in nets
    assert stack.volume() in d.docker("volume", "ls", "-q").stdout.split()

    stack.ok("up", "-d")
    assert wait_until(lambda: stack.compose("exec", "-T", "client", "sh", "-c", GET).stdout
                      .rstrip("\n").endswith(served), timeout=30)

    # down -v removes the volume too.
    stack.ok("down", "-v", "-t", "1", timeout=120)
    assert stack.volume() not in d.docker("volume", "ls", "-q").stdout.split()
    assert stack.states() == {}

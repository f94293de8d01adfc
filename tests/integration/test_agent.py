"""sockerless-agent (issue 10): the static binary in the busybox image, under the real
dockerd and under sockerless; its WebSocket protocol spoken by a test client; and, with
SOCKERLESS_TEST_AGENT_MODE=forward|reverse, what the memory backend's agent mode promises
beyond the exec/attach/cp suites that run again in that mode (PID 1, the token kept out of
sight, wrong tokens refused, many execs on one connection)."""

from __future__ import annotations

import concurrent.futures
import json
import os
import socket
import struct
import time

import pytest
import websocket

from harness import AGENT_MODE, BACKEND, make_tmpdir

AGENT = os.path.join(os.path.dirname(os.environ.get("SOCKERLESSD") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "sockerlessd")), "sockerless-agent")

agent_modes_only = pytest.mark.skipif(
    AGENT_MODE == "off" or BACKEND != "memory",
    reason="needs SOCKERLESS_TEST_AGENT_MODE=forward|reverse (memory backend)")


def connect(sock_path: str, token: str, path: str = "/v1/agent") -> websocket.WebSocket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if len(sock_path) >= 100:  # beyond sun_path: through the directory
        d = os.open(os.path.dirname(sock_path), os.O_PATH)
        try:
            s.connect(f"/proc/self/fd/{d}/{os.path.basename(sock_path)}")
        finally:
            os.close(d)
    else:
        s.connect(sock_path)
    return websocket.create_connection(f"ws://localhost{path}", socket=s, timeout=20,
                                       header=[f"Authorization: Bearer {token}"])


class Session:
    """The daemon's side of the protocol, by hand."""

    def __init__(self, ws: websocket.WebSocket):
        self.ws = ws
        hello = json.loads(ws.recv())
        assert hello["type"] == "hello" and 1 in hello["versions"], hello
        self.capabilities = hello["capabilities"]
        ws.send(json.dumps({"type": "hello", "versions": [1], "role": "daemon",
                            "capabilities": []}))

    def run(self, session: int, request: dict, stdin: bytes | None = None):
        """Sends a request and collects what comes back until it ends."""
        self.ws.send(json.dumps({**request, "session": session}))
        if stdin is not None:
            if stdin:
                self.ws.send_binary(struct.pack(">BI", 0, session) + stdin)
            self.ws.send(json.dumps({"type": "eof", "session": session, "stream": 0}))
        out = {1: b"", 2: b"", 3: b""}
        controls = []
        while True:
            op, data = self.ws.recv_data()
            if op == websocket.ABNF.OPCODE_BINARY:
                stream, sess = struct.unpack(">BI", data[:5])
                assert sess == session
                out[stream] += data[5:]
                self.ws.send(json.dumps({"type": "window", "session": session,
                                         "stream": stream, "bytes": len(data) - 5}))
                continue
            m = json.loads(data)
            if m.get("type") == "window":
                continue
            controls.append(m)
            if m["type"] in ("exit", "done", "error"):
                return out, controls


@pytest.fixture
def agent_dir():
    d = make_tmpdir("sockerless-agent-")
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        import shutil
        shutil.rmtree(d, ignore_errors=True)


def test_the_agent_binary_is_static_and_runs_in_busybox(engine, registry):
    """Both under the real dockerd and under sockerless: the busybox image has no libc."""
    ref = f"{registry.host}/busybox:latest"
    assert engine.docker("pull", "-q", ref, timeout=60).returncode == 0
    r = engine.docker("run", "--rm", "-v", f"{AGENT}:/agent:ro", ref, "/agent", "--version")
    assert (r.returncode, r.stdout) == (0, "sockerless-agent 0.1.0 (protocol 1)\n"), r.stderr
    r = engine.docker("run", "--rm", "-v", f"{AGENT}:/agent:ro", ref, "/agent", "--nope")
    assert r.returncode == 2 and "unknown argument --nope" in r.stderr


def test_agent_in_dockerd_serves_exec_cp_and_refuses_wrong_tokens(dockerd, registry, agent_dir):
    """The agent as PID 1 of a container of the real dockerd, listening on a unix socket
    in a bind-mounted directory: a test client speaks the protocol to it."""
    ref = f"{registry.host}/busybox:latest"
    assert dockerd.docker("pull", "-q", ref, timeout=60).returncode == 0
    r = dockerd.docker("run", "-d", "-e", "SOCKERLESS_AGENT_TOKEN=s3cret", "-e", "KEEP=me",
                       "-v", f"{AGENT}:/agent:ro", "-v", f"{agent_dir}:/run/agent", ref,
                       "/agent", "--container", "c1", "--listen", "unix:/run/agent/a.sock",
                       "--", "sh", "-c", "echo main-says-hi; env; sleep 60")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        sock = os.path.join(agent_dir, "a.sock")
        deadline = time.time() + 10
        while not os.path.exists(sock) and time.time() < deadline:
            time.sleep(0.05)
        # Wrong and missing tokens: 401, no upgrade.
        for token in ("wrong", ""):
            with pytest.raises(websocket.WebSocketBadStatusException) as e:
                connect(sock, token)
            assert e.value.status_code == 401
        s = Session(connect(sock, "s3cret"))
        assert {"exec", "attach", "archive", "signal", "resize", "top"} <= set(s.capabilities)
        out, ctl = s.run(1, {"type": "exec", "argv": ["sh", "-c", "cat; echo err >&2; exit 5"],
                             "env": ["PATH=/bin"], "stdin": True}, stdin=b"from-stdin\n")
        assert out[1] == b"from-stdin\n" and out[2] == b"err\n", out
        assert ctl[0]["type"] == "started" and ctl[-1] == {"type": "exit", "session": 1,
                                                            "code": 5}
        out, ctl = s.run(2, {"type": "exec", "argv": ["nope"], "env": ["PATH=/bin"]})
        assert ctl[-1]["code"] == 127 and "executable file not found" in ctl[-1]["error"]
        # The command's output, replayed to an attach; the token is not in its environment.
        s.ws.send(json.dumps({"type": "attach", "session": 3, "replay": 65536}))
        data = b""
        while b"KEEP=me" not in data:
            op, chunk = s.ws.recv_data()
            assert op == websocket.ABNF.OPCODE_BINARY, chunk
            data += chunk[5:]
        assert data.startswith(b"main-says-hi\n") and b"SOCKERLESS_AGENT_TOKEN" not in data, data
        # docker cp's pieces: stat, a tar out, a missing path.
        out, ctl = s.run(4, {"type": "stat", "path": "/etc/passwd"})
        assert ctl[0]["type"] == "stat" and ctl[0]["name"] == "passwd", ctl
        out, ctl = s.run(5, {"type": "get_archive", "path": "/etc/passwd"})
        assert out[3][:6] == b"passwd" and b"root:" in out[3], out[3][:100]
        out, ctl = s.run(6, {"type": "stat", "path": "/nowhere", "container": "c1"})
        assert ctl[-1]["kind"] == "not_found", ctl
        # A signal to the main process ends it; the attach sees its exit code.
        s.ws.send(json.dumps({"type": "signal", "session": 7, "target": "main",
                              "signal": "TERM"}))
        ends = []
        while len(ends) < 2:
            op, chunk = s.ws.recv_data()
            if op != websocket.ABNF.OPCODE_BINARY:
                m = json.loads(chunk)
                if m["type"] in ("done", "exit"):
                    ends.append(m)
        assert {"type": "exit", "session": 3, "code": 143} in ends, ends
        # Without --keep-alive the agent ends with its command, with the command's code.
        r = dockerd.docker("wait", cid, timeout=20)
        assert r.stdout.strip() == "143", r
    finally:
        dockerd.docker("rm", "-f", cid)


@agent_modes_only
def test_pid_one_is_the_agent_and_its_token_stays_hidden(sockerlessd, busybox):
    r = sockerlessd.docker("run", "-d", "--name", "agent-pid1", "-e", "VISIBLE=1", busybox,
                           "sleep", "60")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        r = sockerlessd.docker("exec", "agent-pid1", "cat", "/proc/1/cmdline")
        assert r.stdout.split("\0")[0] == "/.sockerless/agent", r
        with open(os.path.join(sockerlessd.data_root, "memory", "containers", cid,
                               "agent.json")) as f:
            token = json.load(f)["token"]
        assert len(token) >= 40
        inspect = sockerlessd.docker("inspect", "agent-pid1").stdout
        assert token not in inspect and "SOCKERLESS_AGENT_TOKEN" not in inspect
        assert json.loads(inspect)[0]["Args"] == ["60"]
        env = sockerlessd.docker("exec", "agent-pid1", "env").stdout
        assert "VISIBLE=1" in env and token not in env
        # The command runs as the agent's child; docker top asks the agent (ps -ef's table).
        top = sockerlessd.docker("top", "agent-pid1").stdout.splitlines()
        assert top[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
        rows = [line.split(None, 7) for line in top[1:]]
        assert rows[0][1] == "1" and rows[0][7].startswith("/.sockerless/agent"), rows
        assert ["root", "1", "sleep 60"] in [[r[0], r[2], r[7]] for r in rows], rows
        r = sockerlessd.docker("top", "agent-pid1", "aux")
        assert r.returncode != 0 and "not supported for containers under an agent" in r.stderr
    finally:
        sockerlessd.docker("rm", "-f", "agent-pid1")


@agent_modes_only
def test_wrong_tokens_are_refused(sockerlessd, busybox):
    r = sockerlessd.docker("run", "-d", "--name", "agent-tok", busybox, "sleep", "60")
    cid = r.stdout.strip()
    try:
        if AGENT_MODE == "forward":
            sock = os.path.join(sockerlessd.data_root, "memory", "containers", cid, "agent",
                                "agent.sock")
            path = "/v1/agent"
            deadline = time.time() + 10  # the agent listens once it has started
            while not os.path.exists(sock) and time.time() < deadline:
                time.sleep(0.05)
        else:
            sock = sockerlessd.host.replace("unix://", "")
            path = f"/internal/v1/agent/connect?container={cid}"
        with pytest.raises(websocket.WebSocketBadStatusException) as e:
            connect(sock, "not-the-token", path)
        assert e.value.status_code == 401
        # The container's own agent still serves.
        r = sockerlessd.docker("exec", "agent-tok", "echo", "still-served")
        assert r.stdout == "still-served\n", r
    finally:
        sockerlessd.docker("rm", "-f", "agent-tok")


@agent_modes_only
def test_fifty_concurrent_execs(sockerlessd, busybox):
    r = sockerlessd.docker("run", "-d", "--name", "agent-50", busybox, "sleep", "120")
    assert r.returncode == 0, r.stderr
    try:
        def one(i):
            r = sockerlessd.docker("exec", "agent-50", "sh", "-c", f"echo n{i}; exit {i % 7}",
                                   timeout=60)
            return r.returncode, r.stdout

        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
            results = list(pool.map(one, range(50)))
        assert results == [(i % 7, f"n{i}\n") for i in range(50)]
        # One connection carried them: the agent holds one connected socket to the daemon.
        pid = sockerlessd.docker("inspect", "-f", "{{.State.Pid}}", "agent-50").stdout.strip()
        fds = os.listdir(f"/proc/{pid}/fd")
        sockets = [f for f in fds if os.readlink(f"/proc/{pid}/fd/{f}").startswith("socket:")]
        assert len(sockets) <= 2, sockets  # the connection, and the listener in forward mode
    finally:
        sockerlessd.docker("rm", "-f", "agent-50")


# ------------------------------------------------------------- FaaS runtime contracts


def test_lambda_runtime_api_loop_in_a_container(dockerd, registry):
    """The agent as a Lambda container's entrypoint (found from AWS_LAMBDA_RUNTIME_API):
    each invocation runs the command with the event on stdin; exit 0 posts its output as
    the response, anything else posts an error carrying the exit code."""
    import http.server
    import threading

    events = [b'{"n": 1}', b"hello", b"fail"]
    posted = []

    class RuntimeApi(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            assert self.path == "/2018-06-01/runtime/invocation/next", self.path
            if not events:
                self.send_response(410)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            e = events.pop(0)
            self.send_response(200)
            self.send_header("Lambda-Runtime-Aws-Request-Id", f"req-{len(posted)}")
            self.send_header("Content-Length", str(len(e)))
            self.end_headers()
            self.wfile.write(e)

        def do_POST(self):
            n = int(self.headers.get("Content-Length", 0))
            posted.append((self.path, self.headers.get("Lambda-Runtime-Function-Error-Type"),
                           self.rfile.read(n)))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

    api = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    ref = f"{registry.host}/busybox:latest"
    assert dockerd.docker("pull", "-q", ref, timeout=60).returncode == 0
    try:
        r = dockerd.docker(
            "run", "--rm", "--network", "host", "-v", f"{AGENT}:/agent:ro",
            "-e", f"AWS_LAMBDA_RUNTIME_API=127.0.0.1:{api.server_address[1]}",
            "--entrypoint", "/agent", ref, "--",
            "sh", "-c", 'x=$(cat); [ "$x" = fail ] && { echo broken >&2; exit 3; }; '
                        'echo "got $x" | tr a-z A-Z', timeout=60)
        assert r.returncode == 0, r.stderr
        assert "broken" in r.stderr  # the command's stderr is the function's log
    finally:
        api.shutdown()
    assert posted[0] == ("/2018-06-01/runtime/invocation/req-0/response", None,
                         b'GOT {"N": 1}\n')
    assert posted[1] == ("/2018-06-01/runtime/invocation/req-1/response", None, b"GOT HELLO\n")
    path, kind, body = posted[2]
    assert (path, kind) == ("/2018-06-01/runtime/invocation/req-2/error", "Unhandled")
    error = json.loads(body)
    assert error["exitCode"] == 3 and error["errorType"] == "Sockerless.ExitCode.3"
    assert "broken" in error["errorMessage"]


def test_http_function_invocations_in_a_container(dockerd, registry):
    """The agent as an HTTP function's entrypoint (Cloud Functions, Cloud Run, Azure
    Functions custom handlers): each request runs the command with the body on stdin."""
    import urllib.error
    import urllib.request

    from harness import free_tcp_port

    port = free_tcp_port()
    ref = f"{registry.host}/busybox:latest"
    assert dockerd.docker("pull", "-q", ref, timeout=60).returncode == 0
    r = dockerd.docker(
        "run", "-d", "--network", "host", "-v", f"{AGENT}:/agent:ro",
        "-e", f"FUNCTIONS_CUSTOMHANDLER_PORT={port}", "--entrypoint", "/agent", ref, "--",
        "sh", "-c", 'x=$(cat); [ "$x" = fail ] && { echo broken; exit 4; }; echo "<$x>"')
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        deadline = time.time() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", data=b"ping",
                                            timeout=10) as resp:
                    assert resp.status == 200
                    assert resp.read() == b"<ping>\n"
                    assert resp.headers["X-Sockerless-Exit-Code"] == "0"
                break
            except urllib.error.URLError as e:
                if isinstance(e, urllib.error.HTTPError) or time.time() > deadline:
                    raise
                time.sleep(0.1)
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", data=b"fail", timeout=10)
        assert e.value.code == 500
        assert e.value.headers["X-Sockerless-Exit-Code"] == "4"
        assert e.value.read() == b"broken\n"
    finally:
        dockerd.docker("rm", "-f", cid)


@agent_modes_only
def test_health_checks_run_through_the_agent(sockerlessd, busybox):
    r = sockerlessd.docker("run", "-d", "--name", "agent-health", "--health-cmd",
                           "test -f /tmp/ready", "--health-interval", "1s", "--health-retries",
                           "1", busybox, "sh", "-c", "sleep 2; touch /tmp/ready; sleep 60")
    assert r.returncode == 0, r.stderr
    try:
        seen = set()
        deadline = time.time() + 20
        while time.time() < deadline and "healthy" not in seen:
            seen.add(sockerlessd.docker("inspect", "-f", "{{.State.Health.Status}}",
                                        "agent-health").stdout.strip())
            time.sleep(0.2)
        assert "healthy" in seen and "unhealthy" in seen, seen
        log = json.loads(sockerlessd.docker("inspect", "-f", "{{json .State.Health.Log}}",
                                            "agent-health").stdout)
        assert log[-1]["ExitCode"] == 0 and any(e["ExitCode"] == 1 for e in log), log
    finally:
        sockerlessd.docker("rm", "-f", "agent-health")


@pytest.mark.backends("memory", reason="starts a sockerlessd of its own with --agent-mode, an option "
                                      "of the memory backend")
def test_callback_over_wss(sockerlessd_factory, registry, tls_files):
    """An agent dials the daemon's TLS listener (wss://), verifying its certificate against
    --ca-file; a rogue CA is refused. The daemon takes the new connection for the container
    (as it would after a reconnect) and execs reach it."""
    import subprocess

    from harness import free_tcp_port

    port = free_tcp_port()
    d = sockerlessd_factory.start("--agent-mode", "reverse", "-H", f"tcp://127.0.0.1:{port}",
                                  "--tls", "--tlscert", tls_files.server_cert, "--tlskey",
                                  tls_files.server_key)
    ref = f"{registry.host}/busybox:latest"
    assert d.docker("pull", "-q", ref, timeout=60).returncode == 0
    cid = d.docker("run", "-d", "--name", "wss-box", ref, "sleep", "120").stdout.strip()
    assert cid
    with open(os.path.join(d.data_root, "memory", "containers", cid, "agent.json")) as f:
        token = json.load(f)["token"]
    url = f"wss://localhost:{port}/internal/v1/agent/connect?container={cid}"
    env = dict(os.environ, SOCKERLESS_AGENT_TOKEN=token)
    rogue = subprocess.Popen([AGENT, "--callback", url, "--ca-file", tls_files.rogue_ca,
                              "--", "sleep", "60"], env=env, stderr=subprocess.PIPE, text=True)
    good = subprocess.Popen([AGENT, "--callback", url, "--ca-file", tls_files.ca, "--",
                             "sleep", "60"], env=env, stderr=subprocess.DEVNULL)
    try:
        where = ["sh", "-c", "test -e /.sockerless/agent && echo container || echo outside"]
        # The container's own agent dials again when replaced, so the two take turns:
        # some exec soon lands on the one that came over TLS, outside the container.
        seen = set()
        deadline = time.time() + 20
        while "outside\n" not in seen and time.time() < deadline:
            seen.add(d.docker("exec", "wss-box", *where).stdout)
        assert "outside\n" in seen, seen
    finally:
        good.kill()
        rogue.kill()
        good.wait()
        _, err = rogue.communicate()
        d.docker("rm", "-f", "wss-box")
    assert "TLS with localhost: unable to get local issuer certificate" in err, err


@pytest.mark.backends("memory", reason="starts a sockerlessd of its own with --agent-mode, an option "
                                      "of the memory backend")
def test_a_function_agent_dials_back_for_exec(sockerlessd_factory, registry):
    """In a FaaS contract the agent still dials the daemon, so exec reaches the function
    while it runs: here an HTTP function agent outside any container takes over the
    connection of a reverse-mode container (as a reconnect would) and serves its execs,
    while it answers invocations."""
    import subprocess
    import urllib.parse
    import urllib.request

    from harness import free_tcp_port

    d = sockerlessd_factory.start("--agent-mode", "reverse")
    ref = f"{registry.host}/busybox:latest"
    assert d.docker("pull", "-q", ref, timeout=60).returncode == 0
    cid = d.docker("run", "-d", "--name", "fn-box", ref, "sleep", "120").stdout.strip()
    assert cid
    with open(os.path.join(d.data_root, "memory", "containers", cid, "agent.json")) as f:
        token = json.load(f)["token"]
    sock = os.path.join(d.data_root, "memory", "agent", "daemon.sock")
    url = (f"ws+unix://{urllib.parse.quote(sock, safe='')}/internal/v1/agent/connect"
           f"?container={cid}")
    port = free_tcp_port()
    env = dict(os.environ, SOCKERLESS_AGENT_TOKEN=token, PORT=str(port))
    fn = subprocess.Popen([AGENT, "--faas", "http", "--callback", url, "--", "tr", "a-z", "A-Z"],
                          env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", data=b"shout",
                                            timeout=10) as resp:
                    assert resp.read() == b"SHOUT"
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        where = ["sh", "-c", "test -e /.sockerless/agent && echo container || echo outside"]
        seen = set()
        deadline = time.time() + 20
        while "outside\n" not in seen and time.time() < deadline:
            seen.add(d.docker("exec", "fn-box", *where).stdout)
        assert "outside\n" in seen, seen
    finally:
        fn.kill()
        fn.wait()
        d.docker("rm", "-f", "fn-box")


def test_keep_alive_reaping_and_stop(dockerd, registry, agent_dir):
    """PID 1's duties under the real dockerd: orphans are reaped; with --keep-alive the
    agent stays up for exec after its command ends; docker stop's SIGTERM reaches the
    command while it runs, and the agent leaves with it."""
    ref = f"{registry.host}/busybox:latest"
    assert dockerd.docker("pull", "-q", ref, timeout=60).returncode == 0

    def start(*command):
        r = dockerd.docker("run", "-d", "-e", "SOCKERLESS_AGENT_TOKEN=t0k", "-v",
                           f"{AGENT}:/agent:ro", "-v", f"{agent_dir}:/run/agent", ref, "/agent",
                           "--keep-alive", "--listen", "unix:/run/agent/a.sock", "--", *command)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    cid = start("sh", "-c", "(sleep 0.2 &); (sleep 0.3 &); exit 7")
    try:
        time.sleep(1.5)
        state = json.loads(dockerd.docker("inspect", cid).stdout)[0]["State"]
        assert state["Running"], state  # the command ended; the agent stayed
        # Its orphans were reaped: no zombie is left.
        r = dockerd.docker("exec", cid, "sh", "-c", "cat /proc/[0-9]*/stat")
        states = [line.rsplit(")", 1)[1].split()[0] for line in r.stdout.splitlines()]
        assert "Z" not in states, r.stdout
        # An exec through the agent still works after the command ended.
        s = Session(connect(os.path.join(agent_dir, "a.sock"), "t0k"))
        out, ctl = s.run(1, {"type": "exec", "argv": ["echo", "still-here"],
                             "env": ["PATH=/bin"]})
        assert out[1] == b"still-here\n" and ctl[-1]["code"] == 0
        # SIGTERM now ends the agent, with the command's code.
        assert dockerd.docker("stop", "-t", "5", cid).returncode == 0
        assert dockerd.docker("inspect", "-f", "{{.State.ExitCode}}", cid).stdout.strip() == "7"
    finally:
        dockerd.docker("rm", "-f", cid)
    cid = start("sh", "-c", "trap 'exit 42' TERM; while :; do sleep 0.1; done")
    try:
        time.sleep(0.5)
        t = time.time()
        assert dockerd.docker("stop", "-t", "8", cid).returncode == 0
        assert time.time() - t < 5  # the command got the SIGTERM; no SIGKILL was needed
        assert dockerd.docker("inspect", "-f", "{{.State.ExitCode}}", cid).stdout.strip() == "42"
    finally:
        dockerd.docker("rm", "-f", cid)


@pytest.mark.backends("memory", reason="starts a sockerlessd of its own with --agent-mode, an option "
                                      "of the memory backend")
def test_a_dropped_connection_ends_its_execs_with_an_error(sockerlessd_factory, registry):
    """A docker exec streaming through the agent's connection when the connection goes
    (here: another agent with the container's token takes its place, as after a
    reconnect) ends at once with an error, rather than waiting for the process."""
    import subprocess
    import urllib.parse

    d = sockerlessd_factory.start("--agent-mode", "reverse")
    ref = f"{registry.host}/busybox:latest"
    assert d.docker("pull", "-q", ref, timeout=60).returncode == 0
    cid = d.docker("run", "-d", "--name", "drop-box", ref, "sleep", "120").stdout.strip()
    assert cid
    with open(os.path.join(d.data_root, "memory", "containers", cid, "agent.json")) as f:
        token = json.load(f)["token"]
    from harness import DOCKER_CLI, cli_env
    exec_cli = subprocess.Popen(
        [DOCKER_CLI, "-H", d.host, "exec", "drop-box", "sh", "-c", "echo started; sleep 60"],
        env=cli_env(d.docker_config), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    impostor = None
    try:
        assert exec_cli.stdout.readline() == "started\n"
        sock = os.path.join(d.data_root, "memory", "agent", "daemon.sock")
        url = (f"ws+unix://{urllib.parse.quote(sock, safe='')}/internal/v1/agent/connect"
               f"?container={cid}")
        t = time.time()
        impostor = subprocess.Popen([AGENT, "--callback", url, "--", "sleep", "60"],
                                    env=dict(os.environ, SOCKERLESS_AGENT_TOKEN=token),
                                    stderr=subprocess.DEVNULL)
        exec_cli.wait(timeout=15)
        assert time.time() - t < 10
        # The exec's System frame carried 126 and the reason; the CLI reports the code.
        assert exec_cli.returncode == 126, (exec_cli.returncode, exec_cli.stderr.read())
        # The container's own agent dials again at once, although the exec it was serving
        # still runs: execs land in the container again once the impostor is gone.
        impostor.kill()
        impostor.wait()
        impostor = None
        where = ["sh", "-c", "test -e /.sockerless/agent && echo container || echo outside"]
        deadline = time.time() + 15
        while d.docker("exec", "drop-box", *where).stdout != "container\n":
            assert time.time() < deadline, "the container's agent did not come back"
            time.sleep(0.2)
    finally:
        exec_cli.kill()
        if impostor:
            impostor.kill()
            impostor.wait()
        d.docker("rm", "-f", "drop-box")


@agent_modes_only
def test_a_paused_container_is_still_copied_from_and_listed(sockerlessd, busybox, tmp_path):
    """The agent freezes with its container: cp and top of a paused container take the
    daemon's own way instead of waiting for it."""
    r = sockerlessd.docker("run", "-d", "--name", "agent-paused", busybox, "sh", "-c",
                           "echo frozen > /tmp/f; sleep 60")
    assert r.returncode == 0, r.stderr
    try:
        time.sleep(0.5)
        assert sockerlessd.docker("pause", "agent-paused").returncode == 0
        r = sockerlessd.docker("cp", "agent-paused:/tmp/f", str(tmp_path / "f"), timeout=20)
        assert r.returncode == 0, r.stderr
        assert (tmp_path / "f").read_text() == "frozen\n"
        assert "sleep 60" in sockerlessd.docker("top", "agent-paused", timeout=20).stdout
        assert sockerlessd.docker("unpause", "agent-paused").returncode == 0
        assert sockerlessd.docker("exec", "agent-paused", "cat", "/tmp/f").stdout == "frozen\n"
    finally:
        sockerlessd.docker("rm", "-f", "agent-paused")

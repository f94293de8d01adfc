"""Process, HTTP and TLS helpers for the sockerless integration tests.

Everything here uses the Python standard library plus the `docker` SDK that the
test venv already carries; no extra packages.

Daemon  -- one running engine (sockerlessd or the reference dockerd) with the
           helper surface the tests use: .host, .sock, .data_root, .proc, .pid,
           docker(*args), client(), raw(method, path, ...), signal(), stop().
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import ipaddress
import itertools
import json as jsonlib
import os
import re
import shutil
import signal as sig_mod
import socket
import ssl
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pytest

DOCKER_CLI = shutil.which("docker") or "/usr/local/bin/docker"

# Environment variables that would make the docker CLI / SDK talk to something
# other than the daemon under test.
_DOCKER_ENV_VARS = (
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
    "DOCKER_TLS_VERIFY",
    "DOCKER_TLS",
    "DOCKER_CERT_PATH",
    "DOCKER_API_VERSION",
    "DOCKER_DEFAULT_PLATFORM",
)


class HarnessError(Exception):
    """Raised when a daemon cannot be started or stopped cleanly."""


# --------------------------------------------------------------------------- HTTP


@dataclasses.dataclass
class Response:
    status: int
    reason: str
    headers: http.client.HTTPMessage  # case-insensitive .get()
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self):
        return jsonlib.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    def header_names(self) -> set[str]:
        """Header names, canonicalised to lower case."""
        return {k.lower() for k in self.headers.keys()}

    def __repr__(self) -> str:  # readable assertion messages
        return (
            f"<Response {self.status} {self.reason} ct={self.content_type!r} "
            f"body={self.body[:300]!r}>"
        )


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over an AF_UNIX stream socket."""

    def __init__(self, path: str, timeout: float = 10.0):
        super().__init__("localhost", timeout=timeout)
        self._unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self._unix_path)
        except BaseException:
            s.close()
            raise
        self.sock = s


def http_request(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | str | dict | list | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    hdrs = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = jsonlib.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, r.reason, r.headers, data)
    finally:
        conn.close()


def unix_request(sock: str, method: str, path: str, body=None, headers=None,
                 timeout: float = 10.0) -> Response:
    return http_request(UnixHTTPConnection(sock, timeout), method, path, body, headers)


def tcp_request(host: str, port: int, method: str, path: str, body=None, headers=None,
                timeout: float = 10.0, ssl_context: ssl.SSLContext | None = None) -> Response:
    if ssl_context is not None:
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl_context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    return http_request(conn, method, path, body, headers)


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ process hygiene


def _decode_mountinfo_path(p: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), p)


def mounts_under(root: str) -> list[str]:
    root = os.path.realpath(root)
    found = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = _decode_mountinfo_path(line.split()[4])
                if mp == root or mp.startswith(root + "/"):
                    found.append(mp)
    except OSError:
        pass
    return found


def umount_under(root: str) -> list[str]:
    """Unmount everything below root (deepest first). Returns what was left mounted."""
    for _ in range(3):
        mps = sorted(set(mounts_under(root)), key=len, reverse=True)
        if not mps:
            return []
        for mp in mps:
            if subprocess.run(["umount", mp], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", mp], capture_output=True)
    return mounts_under(root)


def pids_referencing(text: str, exclude: Iterable[int] = ()) -> list[int]:
    """PIDs whose command line mentions `text` (our unique temp dir)."""
    me = {os.getpid(), *exclude}
    out = []
    needle = text.encode()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in me:
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if needle in f.read():
                    out.append(int(d))
        except OSError:
            continue
    return out


def kill_pids(pids: Sequence[int], grace: float = 3.0) -> None:
    for sig in (sig_mod.SIGTERM, sig_mod.SIGKILL):
        alive = []
        for pid in pids:
            try:
                os.kill(pid, sig)
                alive.append(pid)
            except ProcessLookupError:
                pass
        if not alive:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            alive = [p for p in alive if _pid_alive(p)]
            if not alive:
                return
            time.sleep(0.05)
        pids = alive


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


def _daemon_ids(data_root: str, table: str) -> list[tuple[str, str]]:
    """(id, doc) rows of one table of a sockerlessd's state database, read-only."""
    import sqlite3

    db = os.path.join(data_root, "sockerless.db")
    if not os.path.exists(db):
        return []
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2)
        try:
            return list(con.execute(f"SELECT id, doc FROM {table}"))
        finally:
            con.close()
    except sqlite3.Error:
        return []


def _container_cgroups(container_id: str) -> list[str]:
    """The cgroup directories (v1 hierarchies or v2) of a sockerless container."""
    out = []
    root = "/sys/fs/cgroup"
    for base in [root] + [os.path.join(root, d) for d in sorted(os.listdir(root))]:
        path = os.path.join(base, "sockerless", container_id)
        if os.path.isdir(path):
            out.append(path)
    return out


def remove_daemon_containers(data_root: str) -> list[str]:
    """Processes and cgroups of the containers a sockerlessd with this data root recorded,
    that survived it and its monitors (a test killed them). Returns the container IDs whose
    processes had to be killed."""
    killed = []
    for cid, _ in _daemon_ids(data_root, "containers"):
        groups = _container_cgroups(cid)
        pids = set()
        for g in groups:
            for dirpath, _, files in os.walk(g):
                if "cgroup.procs" in files:
                    try:
                        pids |= {int(x) for x in open(os.path.join(dirpath, "cgroup.procs")).read().split()}
                    except OSError:
                        pass
        if pids:
            killed.append(cid)
            for pid in pids:
                try:
                    os.kill(pid, sig_mod.SIGKILL)
                except ProcessLookupError:
                    pass
        for g in groups:
            for dirpath, _, _ in sorted(os.walk(g), key=lambda w: -len(w[0])):
                for _ in range(50):  # the killed processes leave the group asynchronously
                    try:
                        os.rmdir(dirpath)
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        time.sleep(0.02)
    return killed


def remove_daemon_bridges(data_root: str) -> list[str]:
    """The Linux bridges (and their iptables rules) a sockerlessd with this data root made
    and did not remove (it was killed, or it left them for running containers). Returns
    the names it removed."""
    import sqlite3

    names = []
    db = os.path.join(data_root, "sockerless.db")
    if os.path.exists(db):
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2)
            for (doc,) in con.execute("SELECT doc FROM networks"):
                bridge = jsonlib.loads(doc).get("bridge")
                if bridge:
                    names.append(bridge)
            con.close()
        except sqlite3.Error:
            pass
    removed = []
    for name in names:
        if subprocess.run(["ip", "link", "show", name], capture_output=True).returncode != 0:
            continue
        subprocess.run(["ip", "link", "delete", name], capture_output=True)
        removed.append(name)
        for table, chain in (("nat", "POSTROUTING"), ("filter", "FORWARD")):
            rules = subprocess.run(["iptables", "-w", "-t", table, "-S", chain],
                                   capture_output=True, text=True).stdout.splitlines()
            for rule in rules:
                words = rule.split()
                if name in words and words[:1] == ["-A"]:
                    subprocess.run(["iptables", "-w", "-t", table, "-D", *words[1:]],
                                   capture_output=True)
    return removed


def make_tmpdir(prefix: str) -> str:
    # Directly under /tmp: unix socket paths must stay below 108 bytes.
    return tempfile.mkdtemp(prefix=prefix, dir="/tmp")


def cli_env(docker_config: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DOCKER_ENV_VARS}
    env["DOCKER_CONFIG"] = docker_config
    env.setdefault("NO_COLOR", "1")
    if extra:
        env.update(extra)
    return env


# --------------------------------------------------------------------------- daemon


_daemon_seq = itertools.count(1)


class Daemon:
    """A daemon process we started, plus client helpers bound to it."""

    def __init__(self, name: str, argv: list[str], *, tmp: str, sock: str | None,
                 data_root: str | None, docker_config: str,
                 env: Mapping[str, str] | None = None, pidfile: str | None = None,
                 owns_tmp: bool = True):
        self.name = name
        self.argv = argv
        self.tmp = tmp
        self.sock = sock
        self.host = f"unix://{sock}" if sock else None
        self.data_root = data_root
        self.docker_config = docker_config
        self.pidfile = pidfile
        self.owns_tmp = owns_tmp
        n = next(_daemon_seq)  # several daemons may share one tmp dir
        self.stdout_path = os.path.join(tmp, f"{name}-{n}.stdout.log")
        self.stderr_path = os.path.join(tmp, f"{name}-{n}.stderr.log")
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self._clients: list = []
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=self._err,
            env=dict(env) if env is not None else None,
            start_new_session=True,  # own process group: teardown can kill it whole
        )
        self.cleaned = False

    # -- identity ---------------------------------------------------------------
    @property
    def pid(self) -> int:
        return self.proc.pid

    def __repr__(self) -> str:
        return f"<Daemon {self.name} pid={self.pid} host={self.host}>"

    # -- logs -------------------------------------------------------------------
    def stderr_text(self) -> str:
        self._err.flush()
        return Path(self.stderr_path).read_text(errors="replace")

    def stdout_text(self) -> str:
        self._out.flush()
        return Path(self.stdout_path).read_text(errors="replace")

    def log_tail(self, n: int = 60) -> str:
        lines = (self.stdout_text() + self.stderr_text()).splitlines()
        return "\n".join(lines[-n:])

    # -- readiness --------------------------------------------------------------
    def wait_ready(self, timeout: float = 10.0, sock: str | None = None) -> None:
        sock = sock or self.sock
        if not sock:
            raise HarnessError(f"{self.name}: no unix socket to probe")
        deadline = time.monotonic() + timeout
        last = "no attempt"
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise HarnessError(
                    f"{self.name} exited with status {rc} before answering /_ping\n"
                    f"argv: {self.argv}\n--- daemon output ---\n{self.log_tail()}"
                )
            if os.path.exists(sock):
                try:
                    r = unix_request(sock, "GET", "/_ping", timeout=2)
                    if r.status == 200:
                        return
                    last = repr(r)
                except OSError as e:
                    last = repr(e)
            time.sleep(0.05)
        raise HarnessError(
            f"{self.name} did not answer GET /_ping with 200 within {timeout}s "
            f"(last: {last})\nargv: {self.argv}\n--- daemon output ---\n{self.log_tail()}"
        )

    # -- clients ----------------------------------------------------------------
    def docker(self, *args: str, timeout: float = 30, input: str | None = None,
               host_args: Sequence[str] | None = None,
               env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run the docker CLI against this daemon; never raises on non-zero exit."""
        if host_args is None:
            host_args = ["-H", self.host]
        return subprocess.run(
            [DOCKER_CLI, *host_args, *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=cli_env(self.docker_config, env),
        )

    def client(self, **kw):
        import docker  # the SDK; imported lazily so harness import stays cheap

        kw.setdefault("timeout", 30)
        c = docker.DockerClient(base_url=self.host, **kw)
        self._clients.append(c)
        return c

    def raw(self, method: str, path: str, body=None, headers=None,
            timeout: float = 10.0) -> Response:
        return unix_request(self.sock, method, path, body, headers, timeout)

    # -- signals / lifecycle ----------------------------------------------------
    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def reload(self) -> None:
        """SIGHUP to whichever daemon reloads for this one: itself, or the engine under a
        sockerlessd with the docker backend (set as `reload_target`)."""
        (getattr(self, "reload_target", None) or self).signal(sig_mod.SIGHUP)

    def stop(self, sig: int = sig_mod.SIGTERM, timeout: float = 10.0) -> int | None:
        """Signal the daemon and wait; SIGKILL after `timeout`. Returns exit status
        (negative signal number if killed, as subprocess reports it)."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def cleanup(self) -> list[str]:
        """Stop everything this daemon left behind. Returns a list of problems found
        (stray processes, mounts that would not go away); never raises."""
        if self.cleaned:
            return []
        self.cleaned = True
        problems: list[str] = []
        for c in self._clients:
            try:
                c.close()
            except Exception:
                pass
        try:
            self.stop()
        except Exception as e:  # pragma: no cover - best effort
            problems.append(f"stop failed: {e!r}")
        # Whatever is left in the daemon's process group, and anything else whose
        # command line points into our private temp dir (containerd, shims, monitors).
        try:
            os.killpg(self.pid, sig_mod.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        strays = pids_referencing(self.tmp)
        if strays:
            problems.append(f"stray processes after {self.name} exit: {strays}")
            kill_pids(strays)
        if self.data_root and self.name == "sockerlessd":
            orphans = remove_daemon_containers(self.data_root)
            if orphans and self.proc.returncode == 0:
                problems.append(f"containers still running after a clean exit: {orphans}")
        left = umount_under(self.tmp)
        if left:
            problems.append(f"could not unmount: {left}")
        if self.data_root:
            leftover = remove_daemon_bridges(self.data_root)
            if leftover and self.proc.returncode == 0:
                problems.append(f"bridges left after a clean exit: {leftover}")
        for f in (self._out, self._err):
            try:
                f.close()
            except Exception:
                pass
        if self.owns_tmp and not left:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return problems


# ---------------------------------------------------------------------- sockerlessd

REPO = Path(__file__).resolve().parents[2]
SOCKERLESSD = os.environ.get("SOCKERLESSD") or str(REPO / "build" / "sockerlessd")
_DEFAULT = object()


# ------------------------------------------------------------------------ dockerd

# Global paths dockerd 20.10 writes to regardless of --data-root/--exec-root; removed
# again at teardown if (and only if) they did not exist before we started it.
_DOCKERD_GLOBAL_LEFTOVERS = ["/etc/docker/key.json", "/run/docker/plugins", "/run/docker"]


def _dockerd_skip_reason() -> str | None:
    if os.environ.get("SOCKERLESS_TEST_DOCKERD", "1") == "0":
        return "reference dockerd disabled by SOCKERLESS_TEST_DOCKERD=0"
    if not shutil.which("dockerd"):
        return "dockerd not on PATH (install docker.io for the conformance baseline)"
    if not shutil.which("containerd"):
        return "containerd not on PATH (needed by dockerd)"
    if os.geteuid() != 0:
        return "the reference dockerd needs root"
    return None


def _free_bridge_subnet() -> str:
    """A 10.213.N.0/24 no route of this host overlaps (the Docker default pools, which
    dockerd and sockerlessd allocate from, are 172.17-31.x and 192.168.x)."""
    routes = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, text=True).stdout
    used = []
    for line in routes.splitlines():
        dest = line.split()[0] if line.strip() else "default"
        if dest != "default":
            with contextlib.suppress(ValueError):
                used.append(ipaddress.ip_network(dest, strict=False))
    for n in range(256):
        cand = ipaddress.ip_network(f"10.213.{n}.0/24")
        if not any(cand.overlaps(u) for u in used):
            return str(cand)
    raise HarnessError("no free 10.213.N.0/24 for a dockerd's bridge")


@contextlib.contextmanager
def _own_bridge(name: str):
    """A Linux bridge `name` with the first address of a free subnet, removed after."""
    subnet = _free_bridge_subnet()
    gateway = subnet.replace(".0/24", ".1/24")
    for argv in (["ip", "link", "add", name, "type", "bridge"], ["ip", "addr", "add", gateway, "dev", name],
                 ["ip", "link", "set", name, "up"]):
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode != 0:
            subprocess.run(["ip", "link", "del", name], capture_output=True)
            raise HarnessError(f"{' '.join(argv)}: {r.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True)


@contextlib.contextmanager
def run_dockerd(docker_config: str, name: str, extra: Sequence[str] = (),
                storage_driver: str = "vfs", wait: bool = True, bridge: bool | str = False):
    """A private dockerd (with its own containerd) for the length of the block; `extra`
    flags are added (more listeners, TLS). wait=False: yield before it answers.
    bridge=True: its default bridge network (docker0, still without iptables rules), so
    its containers get a veth and an address as sockerless's do; docker0 is removed after.
    bridge="<name>": the same on a bridge of that name made for it (`--bridge=<name>`, a
    free 10.213.N.0/24), so it shares no docker0 with another engine on this host.
    Without a bridge (the default) a container left on the default network has no network:
    its published ports get no mapping."""
    reason = _dockerd_skip_reason()
    if reason:
        pytest.skip(reason)
    if isinstance(bridge, str):
        with _own_bridge(bridge):
            with run_dockerd(docker_config, name, extra=[*extra, f"--bridge={bridge}"],
                             storage_driver=storage_driver, wait=wait) as d:
                yield d
        return
    had_docker0 = os.path.exists("/sys/class/net/docker0")
    preexisting = {p for p in _DOCKERD_GLOBAL_LEFTOVERS if os.path.lexists(p)}
    tmp = make_tmpdir(f"{name}-it-")
    cfg = os.path.join(tmp, "daemon.json")
    Path(cfg).write_text("{}\n")  # private config file: SIGHUP reloads it, not /etc/docker's
    sock = os.path.join(tmp, "docker.sock")
    root = os.path.join(tmp, "root")
    pidfile = os.path.join(tmp, "docker.pid")
    # dockerd runs its own containerd with state under <exec-root>/containerd (socket
    # <exec-root>/containerd/containerd.sock) and root under <data-root>/containerd.
    argv = [
        "dockerd",
        "--config-file", cfg,
        "--storage-driver", storage_driver,
        "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false",
        *([] if bridge or any(a.startswith("--bridge=") for a in extra) else ["--bridge=none"]),
        "-H", f"unix://{sock}",
        "--data-root", root,
        "--exec-root", os.path.join(tmp, "exec"),
        "--pidfile", pidfile,
        *extra,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    d = Daemon("dockerd", argv, tmp=tmp, sock=sock, data_root=root,
               docker_config=docker_config, env=env, pidfile=pidfile)
    try:
        err = None
        try:
            if wait:
                d.wait_ready(timeout=60)
        except HarnessError as e:
            err = str(e)
        if err:
            pytest.fail(err, pytrace=False)
        yield d
    finally:
        # dockerd leaves the bridges of its networks behind when it stops: remove them
        # (and whatever else it holds) while it still can.
        if d.proc.poll() is None:
            try:
                purge_engine(d)
            except Exception as e:  # best effort: a broken engine is reported below
                report_problems(name, [f"could not empty it before stopping: {e!r}"])
        report_problems(name, d.cleanup())
        if bridge and not had_docker0 and os.path.exists("/sys/class/net/docker0"):
            subprocess.run(["ip", "link", "del", "docker0"], capture_output=True)
        for p in _DOCKERD_GLOBAL_LEFTOVERS:  # files before their directories
            if p in preexisting or not os.path.lexists(p):
                continue
            try:
                if os.path.isdir(p) and not os.path.islink(p):
                    os.rmdir(p)  # only if empty
                else:
                    os.unlink(p)
            except OSError:
                pass


# The backend the suite runs against: SOCKERLESS_TEST_BACKEND=memory (default) or docker
# (sockerlessd in front of a dockerd the harness starts). Tests that need another backend
# carry @pytest.mark.backends(...) and are skipped with its reason.
BACKEND = os.environ.get("SOCKERLESS_TEST_BACKEND", "memory")
# With the memory backend: SOCKERLESS_TEST_AGENT_MODE=forward or reverse runs every
# container under sockerless-agent (sockerlessd --agent-mode), exec/attach/cp through it.
AGENT_MODE = os.environ.get("SOCKERLESS_TEST_AGENT_MODE", "off")


def purge_engine(d: "Daemon") -> None:
    """Empties a Docker engine (containers, volumes, networks, images, build cache), so a
    sockerlessd in front of it starts as a fresh daemon would."""
    ids = d.docker("ps", "-aq").stdout.split()
    if ids:
        d.docker("rm", "-f", *ids, timeout=120)
    d.docker("volume", "prune", "-f", timeout=60)
    d.docker("network", "prune", "-f", timeout=60)
    images = d.docker("images", "-aq").stdout.split()
    if images:
        d.docker("rmi", "-f", *sorted(set(images)), timeout=120)
    d.docker("builder", "prune", "-af", timeout=60)


def report_problems(who: str, problems: list[str]) -> None:
    for p in problems:
        warnings.warn(f"{who} teardown: {p}")


class SockerlessFactory:
    """Starts sockerlessd instances and tears all of them down on close()."""

    def __init__(self, docker_config: str, binary: str | None = None,
                 backend_args: Sequence[str] = ()):
        self.binary = binary or SOCKERLESSD
        self.docker_config = docker_config
        # Prepended to every daemon's own flags: the backend under test and its engine.
        self.backend_args = list(backend_args)
        self.daemons: list[Daemon] = []
        self.tmpdirs: list[str] = []

    def new_tmp(self) -> str:
        """A private temp dir removed at close() (for config files, extra roots...)."""
        d = make_tmpdir("sockerless-it-")
        self.tmpdirs.append(d)
        return d

    def available(self) -> bool:
        return os.path.isfile(self.binary) and os.access(self.binary, os.X_OK)

    def start(self, *extra: str, sock=_DEFAULT, data_root=_DEFAULT, log_level="debug",
              env: dict | None = None, wait: bool = True, ready_sock: str | None = None,
              timeout: float = 10.0, tmp: str | None = None) -> Daemon:
        """Start `sockerlessd -H unix://<tmp>/sockerless.sock --data-root <tmp>/data
        --log-level debug *extra`.

        sock / data_root / log_level: pass None to leave the flag out entirely (e.g. to
        test a config file or env var), or a value to override the default.
        ready_sock: the unix socket to probe for readiness when it is not `sock`.
        wait=False: return immediately (for daemons expected to refuse to start).
        """
        if not self.available():
            pytest.skip(f"sockerlessd binary not found at {self.binary} "
                        f"(build it or set SOCKERLESSD)")
        owns_tmp = tmp is None
        tmp = tmp or make_tmpdir("sockerless-it-")
        if sock is _DEFAULT:
            sock = os.path.join(tmp, "sockerless.sock")
        if data_root is _DEFAULT:
            data_root = os.path.join(tmp, "data")
        argv = [self.binary]
        if sock is not None:
            argv += ["-H", f"unix://{sock}"]
        if data_root is not None:
            argv += ["--data-root", data_root]
        if log_level is not None:
            argv += ["--log-level", log_level]
        argv += self.backend_args + list(extra)
        # Hermetic environment: nothing from the caller's SOCKERLESS_* / DOCKER_*.
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("SOCKERLESS_", "DOCKER_"))}
        base.update(env or {})
        d = Daemon("sockerlessd", argv, tmp=tmp, sock=sock or ready_sock,
                   data_root=data_root, docker_config=self.docker_config, env=base,
                   owns_tmp=owns_tmp)
        self.daemons.append(d)
        if wait:
            err = None
            try:
                d.wait_ready(timeout, sock=ready_sock or sock)
            except HarnessError as e:
                err = str(e)
            if err:
                pytest.fail(err, pytrace=False)
        return d

    def close(self) -> None:
        for d in reversed(self.daemons):
            report_problems("sockerlessd", d.cleanup())
        self.daemons.clear()
        for t in self.tmpdirs:
            left = umount_under(t)
            if left:
                report_problems("sockerlessd", [f"could not unmount: {left}"])
            else:
                shutil.rmtree(t, ignore_errors=True)
        self.tmpdirs.clear()



# ---------------------------------------------------------------------------- TLS


@dataclasses.dataclass
class TLSFiles:
    dir: str
    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    # A client certificate signed by an unrelated CA: must be rejected.
    rogue_ca: str
    rogue_cert: str
    rogue_key: str

    def server_args(self) -> list[str]:
        return ["--tlsverify", "--tlscacert", self.ca, "--tlscert", self.server_cert,
                "--tlskey", self.server_key]

    def client_args(self, host: str, cert: str | None = "good") -> list[str]:
        args = ["--tlsverify", "--tlscacert", self.ca]
        if cert == "good":
            args += ["--tlscert", self.client_cert, "--tlskey", self.client_key]
        elif cert == "rogue":
            args += ["--tlscert", self.rogue_cert, "--tlskey", self.rogue_key]
        return args + ["-H", host]


def _openssl(*args: str, cwd: str) -> None:
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise HarnessError(f"openssl {' '.join(args)} failed:\n{r.stderr}")


def make_tls_files(d: str) -> TLSFiles:
    """CA, server cert (SAN IP:127.0.0.1, DNS:localhost), client cert, and a rogue
    CA + client cert, generated with the openssl CLI like the Docker docs do."""

    def ca(name: str) -> None:
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                 "-subj", f"/CN={name}", "-keyout", f"{name}-key.pem",
                 "-out", f"{name}.pem", cwd=d)

    def leaf(name: str, ca_name: str, cn: str, ext: str) -> None:
        Path(d, f"{name}.ext").write_text(ext)
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}",
                 "-keyout", f"{name}-key.pem", "-out", f"{name}.csr", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca_name}.pem",
                 "-CAkey", f"{ca_name}-key.pem", "-CAcreateserial", "-days", "2",
                 "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=d)

    ca("ca")
    ca("rogue-ca")
    leaf("server", "ca", "localhost",
         "subjectAltName = IP:127.0.0.1, DNS:localhost\n"
         "extendedKeyUsage = serverAuth\nkeyUsage = digitalSignature, keyEncipherment\n")
    client_ext = "extendedKeyUsage = clientAuth\nkeyUsage = digitalSignature\n"
    leaf("client", "ca", "client", client_ext)
    leaf("rogue", "rogue-ca", "rogue", client_ext)
    p = lambda n: os.path.join(d, n)  # noqa: E731
    return TLSFiles(d, p("ca.pem"), p("server.pem"), p("server-key.pem"),
                    p("client.pem"), p("client-key.pem"), p("rogue-ca.pem"),
                    p("rogue.pem"), p("rogue-key.pem"))


# ------------------------------------------------------------------------- misc


def wait_until(pred, timeout: float = 5.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def json_lines(text: str) -> list:
    return [jsonlib.loads(line) for line in text.splitlines() if line.strip()]


# ------------------------------------------------------------ hijacked streams


def hijack(sock_path: str, path: str, body: bytes = b"",
           content_type: str = "application/json", timeout: float = 20):
    """POST `path` with the connection upgraded to a raw stream, as docker clients do for
    attach and exec start. Returns (socket, status, headers (lower-case names), the bytes
    already read past the answer's head)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\n"
              f"Upgrade: tcp\r\nContent-Type: {content_type}\r\n"
              f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        assert chunk, f"connection closed before the answer to {path}: {buf!r}"
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    return s, int(lines[0].split()[1]), headers, rest


def demux(data: bytes) -> dict[int, bytes]:
    """A multiplexed (stdcopy) stream's frames, concatenated per stream (1 stdout, 2 stderr)."""
    out: dict[int, bytes] = {}
    while data:
        assert len(data) >= 8, f"a truncated frame: {data!r}"
        kind, size = data[0], int.from_bytes(data[4:8], "big")
        out[kind] = out.get(kind, b"") + data[8:8 + size]
        data = data[8 + size:]
    return out

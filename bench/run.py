"""Benchmarks: sockerlessd (memory backend), dockerd, and sockerlessd's docker backend in
front of that same dockerd, measured the same way in the same run, each scenario in
alternation. Writes bench/results.json; bench/report.py turns it into RESULTS.md and
the plot.

    .venv/bin/python bench/run.py [--quick]

Needs root (both daemons), the offline test images and a local registry
(tests/fixtures), and build/sockerlessd + build/sockerless-loadgen.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "integration"))

from fixtures.build_images import DEFAULT_OUT, build_all, build_big  # noqa: E402
from fixtures.registry import PLAIN_SEED, Registry, seed  # noqa: E402
from harness import (  # noqa: E402
    DOCKER_CLI,
    SockerlessFactory,
    cli_env,
    make_tmpdir,
    pids_referencing,
    run_dockerd,
    unix_request,
)

BUILD = Path(os.environ.get("SOCKERLESS_BUILD", REPO / "build"))
SOCKERLESSD = str(BUILD / "sockerlessd")
LOADGEN = str(BUILD / "sockerless-loadgen")
AGENT_EXEC = str(BUILD / "sockerless-agent-exec")
NCPU = os.cpu_count() or 1
# The load generator runs on the last CPU, the daemons on the others, where there are two.
LOADGEN_CPUS = [str(NCPU - 1)] if NCPU > 1 else []
DAEMON_CPUS = ",".join(str(c) for c in range(NCPU - 1)) if NCPU > 1 else ""


class Target:
    """One engine under test: a name, its socket, and the processes that make it up."""

    def __init__(self, name: str, daemon, tree_marker: str):
        self.name = name
        self.daemon = daemon
        self.sock = daemon.sock
        self.host = daemon.host
        self.marker = tree_marker  # every process of the engine mentions it

    def docker(self, *args, timeout=300, **kw):
        return self.daemon.docker(*args, timeout=timeout, **kw)

    def pids(self) -> list[int]:
        return sorted({self.daemon.pid, *pids_referencing(self.marker)})

    def rss_kib(self, field: str = "VmRSS") -> int:
        """Summed over the engine's processes; RssAnon leaves out the pages of files
        (binaries and shared libraries) that the page cache shares."""
        total = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith(field + ":"):
                            total += int(line.split()[1])
            except OSError:
                pass
        return total


def pin(pid: int) -> None:
    if DAEMON_CPUS:
        for p in [pid, *[int(t) for t in os.listdir(f"/proc/{pid}/task")]]:
            subprocess.run(["taskset", "-a", "-p", "-c", DAEMON_CPUS, str(p)],
                           capture_output=True)


def loadgen(target: Target, *args: str, timeout: float = 600) -> dict:
    argv = ["taskset", "-c", LOADGEN_CPUS[0]] if LOADGEN_CPUS else []
    argv += [LOADGEN, "--socket", target.sock, *args]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"loadgen {args} on {target.name}: {r.stderr or r.stdout}")
    return json.loads(r.stdout)


def wall(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def must(r: subprocess.CompletedProcess, what: str):
    if r.returncode != 0:
        raise RuntimeError(f"{what}: {r.stderr.strip()}")
    return r


class PeakSampler:
    """Samples a target's RSS every 20 ms while the block runs."""

    def __init__(self, target: Target):
        self.target = target
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self):
        def loop():
            while not self._stop.is_set():
                self.peak = max(self.peak, self.target.rss_kib())
                time.sleep(0.02)
        self._t = threading.Thread(target=loop, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def startup_time(start_fn, rounds: int) -> list[float]:
    """Seconds from spawning a daemon to its first answered /_ping."""
    out = []
    for _ in range(rounds):
        with ExitStack() as stack:
            t0 = time.perf_counter()
            d = start_fn(stack)
            while True:
                try:
                    if unix_request(d.sock, "GET", "/_ping", timeout=1).status == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.002)
            out.append(time.perf_counter() - t0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer rounds, shorter runs")
    ap.add_argument("--out", default=str(REPO / "bench" / "results.json"))
    opts = ap.parse_args()
    rounds = 2 if opts.quick else 3
    secs = "1" if opts.quick else "3"
    runs = 8 if opts.quick else 20

    results: dict = {"machine": {}, "versions": {}, "scenarios": {}}
    res = results["scenarios"]

    def record(scenario: str, target: str, value, unit: str, better: str = "lower"):
        s = res.setdefault(scenario, {"unit": unit, "better": better, "values": {}})
        s["values"].setdefault(target, []).append(value)

    images = build_all(Path(DEFAULT_OUT))
    big = build_big(Path(DEFAULT_OUT))
    docker_config = make_tmpdir("bench-docker-config-")
    with ExitStack() as stack:
        reg = Registry(name="bench-registry")
        reg.start()
        stack.callback(reg.stop)
        seed(reg, images, PLAIN_SEED)
        reg.push(big, "big", "latest", "v2s2")
        big_ref = f"{reg.host}/big:latest"
        busybox = f"{reg.host}/busybox:latest"

        factory = SockerlessFactory(docker_config)
        stack.callback(factory.close)
        sl = factory.start(log_level="warning")
        engine = stack.enter_context(run_dockerd(docker_config, "bench-dockerd",
                                                 storage_driver="overlay2", bridge=True))
        proxy = factory.start("--backend", "docker", "--docker-host", engine.host,
                              log_level="warning")
        # The memory backend with every container under sockerless-agent (the path the
        # cloud backends take): measured on the exec scenarios only.
        agented = factory.start("--agent-mode", "forward", log_level="warning")
        for d in (sl, engine, proxy, agented):
            pin(d.pid)
        targets = [Target("sockerless", sl, sl.tmp), Target("dockerd", engine, engine.tmp),
                   Target("sockerless-docker", proxy, proxy.tmp)]
        by = {t.name: t for t in targets}
        agent_t = Target("sockerless-agent", agented, agented.tmp)

        results["machine"] = {
            "cpus": NCPU, "kernel": platform.release(),
            "cpu_model": next((l.split(":", 1)[1].strip() for l in
                               Path("/proc/cpuinfo").read_text().splitlines()
                               if l.startswith("model name")), "unknown"),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
            "pinning": f"daemons on CPUs {DAEMON_CPUS or 'all'}, load generator on "
                       f"{LOADGEN_CPUS[0] if LOADGEN_CPUS else 'all'}",
        }
        for t in targets:
            v = json.loads(t.docker("version", "--format", "{{json .Server}}").stdout)
            results["versions"][t.name] = {"version": v.get("Version"),
                                           "api": v.get("ApiVersion")}
        results["versions"]["docker-cli"] = subprocess.run(
            [DOCKER_CLI, "--version"], capture_output=True, text=True).stdout.strip()

        # -- idle footprint ----------------------------------------------------------
        time.sleep(1)
        for t in targets:
            record("idle RSS (daemon + helpers)", t.name, t.rss_kib() / 1024, "MiB")
            record("idle anonymous RSS (daemon + helpers)", t.name,
                   t.rss_kib("RssAnon") / 1024, "MiB")

        # -- /_ping ------------------------------------------------------------------
        for c in (1, 8, 64):
            for _ in range(rounds):
                for t in targets:
                    r = loadgen(t, "--path", "/_ping", "--concurrency", str(c),
                                "--duration", secs, "--warmup", "0.3")
                    record(f"GET /_ping c={c} throughput", t.name, r["rate"], "req/s", "higher")
                    record(f"GET /_ping c={c} p50", t.name, r["latency_us"]["p50"], "µs")
                    record(f"GET /_ping c={c} p99", t.name, r["latency_us"]["p99"], "µs")
                    if c == 8:
                        results.setdefault("samples", {}).setdefault(
                            "GET /_ping c=8", {})[t.name] = r["samples_us"]

        # -- images ------------------------------------------------------------------
        for t in (by["sockerless"], by["dockerd"]):
            must(t.docker("pull", "-q", busybox), f"pull busybox on {t.name}")
        for _ in range(rounds):
            for t in targets:
                with PeakSampler(t) as peak:
                    took = wall(lambda: must(t.docker("pull", "-q", big_ref),
                                             f"pull big on {t.name}"))
                record("docker pull 100 MiB image (s)", t.name, took, "s")
                record("peak RSS during pull", t.name, peak.peak / 1024, "MiB")
                # (the proxy and dockerd share one engine: each pull starts from nothing)
                must(t.docker("rmi", "-f", big_ref), "rmi big")

        # -- docker run --rm true (the whole CLI process) -----------------------------
        for _ in range(runs):
            for t in targets:
                took = wall(lambda: must(t.docker("run", "--rm", busybox, "true"),
                                         f"run on {t.name}"))
                record("docker run --rm busybox true (s)", t.name, took, "s")
        results.setdefault("samples", {})["docker run --rm true"] = {
            t: [v * 1e6 for v in res["docker run --rm busybox true (s)"]["values"][t]]
            for t in by}

        # -- create -> start -> wait -> remove through the API ------------------------
        for _ in range(rounds):
            for t in targets:
                r = loadgen(t, "--mode", "lifecycle", "--image", busybox, "--requests",
                            str(runs))
                record("API create+start+wait+remove p50 (ms)", t.name,
                       r["latency_us"]["p50"] / 1000, "ms")
        # -- 100 containers at once ---------------------------------------------------
        for _ in range(rounds):
            for t in targets:
                r = loadgen(t, "--mode", "lifecycle", "--image", busybox, "--requests", "100",
                            "--concurrency", "100")
                record("100 concurrent create+start+wait+remove (s)", t.name, r["seconds"], "s")

        # -- docker exec: latency of `true`, and output throughput ----------------------
        must(agent_t.docker("pull", "-q", busybox), "pull busybox under the agent")
        exec_targets = targets + [agent_t]
        for t in exec_targets:
            must(t.docker("run", "-d", "--name", f"bench-exec-{t.name}", busybox, "sleep",
                          "3600"), f"exec box on {t.name}")
        for _ in range(runs):
            for t in exec_targets:
                took = wall(lambda: must(t.docker("exec", f"bench-exec-{t.name}", "true"),
                                         f"exec on {t.name}"))
                record("docker exec true (s)", t.name, took, "s")
        for _ in range(rounds):
            for t in exec_targets:
                env = cli_env(t.daemon.docker_config)

                def stream_exec():
                    n = 0
                    with subprocess.Popen([DOCKER_CLI, "-H", t.host, "exec",
                                           f"bench-exec-{t.name}", "head", "-c", "536870912",
                                           "/dev/zero"], stdout=subprocess.PIPE, env=env) as p:
                        while chunk := p.stdout.read(1 << 20):
                            n += len(chunk)
                    assert n == 512 << 20, (t.name, n)
                record("docker exec output 512 MiB (MB/s)", t.name,
                       (512 << 20) / 1e6 / wall(stream_exec), "MB/s", "higher")
        for t in exec_targets:
            t.docker("rm", "-f", f"bench-exec-{t.name}")
        # The agent link alone: a real agent, the daemon's agent client, no CLI, no HTTP.
        argv = [AGENT_EXEC, str(BUILD / "sockerless-agent"), str(1 << 30), str(rounds)]
        if LOADGEN_CPUS:
            argv = ["taskset", "-c", LOADGEN_CPUS[0], *argv]
        r = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True,
                                      timeout=600).stdout)
        for v in r["mb_per_s"]:
            record("agent link: exec output 1 GiB (MB/s)", "sockerless-agent", v, "MB/s",
                   "higher")

        # -- docker logs of 100 MiB ---------------------------------------------------
        for t in targets:
            cid = must(t.docker("run", "-d", busybox, "sh", "-c",
                                "yes 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                " | head -c 104857600"), "logs box").stdout.strip()
            must(t.docker("wait", cid), "wait logs box")
            t.logs_box = cid
        for _ in range(rounds):
            for t in targets:
                env = cli_env(t.daemon.docker_config)

                def read_logs():
                    n = 0
                    with subprocess.Popen([DOCKER_CLI, "-H", t.host, "logs", t.logs_box],
                                          stdout=subprocess.PIPE, env=env) as p:
                        while chunk := p.stdout.read(1 << 20):
                            n += len(chunk)
                    assert n >= 100 << 20, (t.name, n)
                record("docker logs 100 MiB (s)", t.name, wall(read_logs), "s")
        for t in targets:
            t.docker("rm", "-f", t.logs_box)

        # -- GET /containers/json with 0, 100, 1000 containers ------------------------
        have = 0
        for n in (0, 100, 1000):
            for t in (by["sockerless"], by["dockerd"]):  # the proxy lists dockerd's
                if n > have:
                    loadgen_create(t, busybox, n - have)
            have = n
            if n == 1000:
                for t in targets:
                    record("RSS with 1000 containers", t.name, t.rss_kib() / 1024, "MiB")
            for c in (1, 8, 64):
                for _ in range(rounds):
                    for t in targets:
                        r = loadgen(t, "--path", "/containers/json?all=1", "--concurrency",
                                    str(c), "--duration", secs, "--warmup", "0.3")
                        key = f"GET /containers/json ({n} containers) c={c}"
                        record(f"{key} throughput", t.name, r["rate"], "req/s", "higher")
                        record(f"{key} p50", t.name, r["latency_us"]["p50"], "µs")
                        record(f"{key} p99", t.name, r["latency_us"]["p99"], "µs")
                        if n == 1000 and c == 8:
                            results.setdefault("samples", {}).setdefault(
                                "GET /containers/json (1000) c=8", {})[t.name] = r["samples_us"]
        for t in (by["sockerless"], by["dockerd"]):
            t.docker("container", "prune", "-f", timeout=900)

    # -- start-up to the first answered _ping (fresh data roots each time) -------------
    def start_sockerless(stack):
        f = SockerlessFactory(docker_config)
        stack.callback(f.close)
        return f.start(log_level="warning", wait=False)

    def start_dockerd(stack):
        return stack.enter_context(run_dockerd(docker_config, "bench-startup",
                                               storage_driver="overlay2", wait=False,
                                               bridge=True))

    for _ in range(rounds):
        for v in startup_time(start_sockerless, 1):
            record("start-up to first /_ping (s)", "sockerless", v, "s")
        for v in startup_time(start_dockerd, 1):
            record("start-up to first /_ping (s)", "dockerd", v, "s")
    shutil.rmtree(docker_config, ignore_errors=True)

    for s in res.values():
        s["median"] = {t: statistics.median(v) for t, v in s["values"].items()}
    Path(opts.out).write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {opts.out}")
    return 0


def loadgen_create(t: Target, image: str, count: int) -> None:
    """Creates `count` stopped containers through the API (8 at a time)."""
    body = json.dumps({"Image": image, "Cmd": ["true"]})
    loadgen(t, "--method", "POST", "--path", "/containers/create", "--body", body,
            "--concurrency", "8", "--requests", str(count), timeout=1800)


if __name__ == "__main__":
    sys.exit(main())

"""The AWS simulator measured: RunTask -> RUNNING latency, RunTask -> STOPPED for a `true`
task beside what the memory backend takes for `docker run --rm busybox true` (same machine,
same run, alternating), task throughput with several at once, and the simulator's idle RSS.
Writes bench/sim-results.json and bench/SIM-RESULTS.md. Not part of `make test`.

    .venv/bin/python bench/sim.py [--quick]

Needs root, the offline test images (tests/fixtures) and build/sockerless-sim + sockerlessd.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "tests" / "sims"))

from fixtures.build_images import DEFAULT_OUT, build_all  # noqa: E402
from fixtures.registry import PLAIN_SEED, Registry, seed  # noqa: E402
from harness import SockerlessFactory, make_tmpdir  # noqa: E402
from conftest import Sim  # noqa: E402


def rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    opts = ap.parse_args()
    runs = 5 if opts.quick else 15
    parallel = 4 if opts.quick else 8

    images = build_all(Path(DEFAULT_OUT))
    results: dict = {"runs": runs, "parallel": parallel, "scenarios": {}}
    with ExitStack() as stack:
        reg = Registry(name="bench-sim-registry")
        reg.start()
        stack.callback(reg.stop)
        seed(reg, images, PLAIN_SEED)
        busybox = f"{reg.host}/busybox:latest"

        sim = Sim()
        stack.callback(sim.cleanup)
        time.sleep(2)
        results["scenarios"]["sim idle RSS (MiB)"] = {"sockerless-sim": round(rss_kib(sim.proc.pid) / 1024, 1)}

        factory = SockerlessFactory(make_tmpdir("bench-sim-docker-config-"))
        stack.callback(factory.close)
        d = factory.start(log_level="warning")
        assert d.docker("pull", "-q", busybox, timeout=120).returncode == 0

        ecs = sim.client("ecs")
        subnet = sim.client("ec2").describe_subnets()["Subnets"][0]["SubnetId"]
        ecs.create_cluster(clusterName="bench")
        ecs.register_task_definition(
            family="true", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256",
            memory="512", containerDefinitions=[{"name": "main", "image": busybox, "command": ["true"]}])
        ecs.register_task_definition(
            family="idle", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256",
            memory="512", containerDefinitions=[{"name": "main", "image": busybox, "stopTimeout": 2,
                                                 "command": ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"]}])

        def run(family: str, until: str) -> float:
            began = time.monotonic()
            arn = ecs.run_task(cluster="bench", taskDefinition=family, networkConfiguration={
                "awsvpcConfiguration": {"subnets": [subnet]}})["tasks"][0]["taskArn"]
            while True:
                t = ecs.describe_tasks(cluster="bench", tasks=[arn])["tasks"][0]
                if t["lastStatus"] == until or t["lastStatus"] == "STOPPED":
                    took = time.monotonic() - began
                    if until == "RUNNING":
                        ecs.stop_task(cluster="bench", task=arn)
                    return took
                time.sleep(0.01)

        run("true", "STOPPED")  # the image is pulled once, outside the measurements
        to_running, to_stopped, docker_run = [], [], []
        for _ in range(runs):
            to_running.append(run("idle", "RUNNING"))
            to_stopped.append(run("true", "STOPPED"))
            began = time.monotonic()
            assert d.docker("run", "--rm", busybox, "true", timeout=60).returncode == 0
            docker_run.append(time.monotonic() - began)
        med = lambda xs: round(statistics.median(xs) * 1000, 1)  # noqa: E731
        results["scenarios"]["RunTask -> RUNNING (ms, median)"] = {"sockerless-sim": med(to_running)}
        results["scenarios"]["a true task: RunTask -> STOPPED vs docker run --rm busybox true (ms, median)"] = {
            "sockerless-sim": med(to_stopped), "memory backend": med(docker_run),
            "ratio": round(statistics.median(to_stopped) / statistics.median(docker_run), 2)}

        began = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
            list(pool.map(lambda _: run("true", "STOPPED"), range(parallel * 2)))
        results["scenarios"][f"true tasks, {parallel} at once (tasks/s)"] = {
            "sockerless-sim": round(parallel * 2 / (time.monotonic() - began), 2)}
        results["scenarios"]["sim RSS after the runs (MiB)"] = {"sockerless-sim": round(rss_kib(sim.proc.pid) / 1024, 1)}

    (REPO / "bench" / "sim-results.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["# The AWS simulator measured", "",
             f"`bench/sim.py` ({runs} runs each, alternating; the median). Same machine, same run.", "",
             "| scenario | values |", "| --- | --- |"]
    for name, vals in results["scenarios"].items():
        lines.append(f"| {name} | {', '.join(f'{k}: {v}' for k, v in vals.items())} |")
    (REPO / "bench" / "SIM-RESULTS.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

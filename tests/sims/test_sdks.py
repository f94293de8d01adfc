"""The AWS SDKs for Go (v2) and JavaScript (v3) against the simulator: each signs requests
its own way (the Go SDK leaves paths unnormalised, the JavaScript SDK sends lower-case header
names), and the simulator must verify all of them as AWS does."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

pytestmark = pytest.mark.timeout(600)


def test_go_sdk(aws_sim):
    env = {**aws_sim.env, "SOCKERLESS_SIM_ENDPOINT": aws_sim.endpoint, "GOFLAGS": "-mod=readonly",
           "GOPROXY": "off"}
    r = subprocess.run(["go", "test", "-count=1", "-v", "./..."], cwd=HERE / "go", env=env,
                       capture_output=True, text=True, timeout=580)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    for name in ("TestECS", "TestLogs", "TestLambdaPathSigning", "TestSignatures"):
        assert f"--- PASS: {name}" in out, out[-6000:]


def test_javascript_sdk(aws_sim):
    modules = REPO / ".tools" / "sims-node"
    if not (modules / "node_modules" / "@aws-sdk" / "client-ecs").is_dir():
        pytest.fail(f"{modules} lacks @aws-sdk/client-ecs (scripts/install-deps.sh installs it)")
    env = {**aws_sim.env, "SOCKERLESS_SIM_ENDPOINT": aws_sim.endpoint,
           "NODE_PATH": str(modules / "node_modules")}
    r = subprocess.run(["node", str(HERE / "node" / "ecs_scenario.js")], env=env,
                       capture_output=True, text=True, timeout=280)
    assert r.returncode == 0, (r.stdout + r.stderr)[-6000:]
    steps = [l.removeprefix("ok ") for l in r.stdout.splitlines() if l.startswith("ok ")]
    assert steps == ["ecs", "errors", "logs", "signatures"], r.stdout + r.stderr

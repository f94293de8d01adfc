"""pytest setup of the simulator suites: a live `sockerless-sim aws` judged by AWS's own
clients (awscli and boto3 from the project's .venv).

Fixtures
  aws_sim        a simulator for the module: .endpoint ("http://127.0.0.1:PORT"), .env (what
                 awscli needs: credentials, region, AWS_ENDPOINT_URL), .aws(*args) runs awscli
                 and returns the parsed JSON answer, .client(service) a boto3 client,
                 .gateway (the host's address on its VPC), .stop()/.start() to restart it
  sim_factory    starts further simulators (other credentials, other data roots)

The integration suite's conftest is loaded as a plugin, so the offline images and the local
registry of tests/fixtures (`registry`, `test_images`) are here too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
sys.path.insert(0, str(TESTS))                   # fixtures.*
sys.path.insert(0, str(TESTS / "integration"))   # harness
pytest_plugins = ["integration.conftest"]

import harness  # noqa: E402

VENV_BIN = REPO / ".venv" / "bin"
SIM_BINARY = os.environ.get("SOCKERLESS_SIM", str(REPO / "build" / "sockerless-sim"))


class AwsCliError(AssertionError):
    def __init__(self, args, proc):
        super().__init__(f"aws {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
        self.returncode = proc.returncode
        self.stderr = proc.stderr
        self.stdout = proc.stdout


class Sim:
    """One sockerless-sim process and the clients pointed at it."""

    def __init__(self, cloud: str = "aws", extra: list[str] | None = None,
                 data_root: str | None = None, access_key: str = "test", secret_key: str = "test"):
        self.cloud = cloud
        self.extra = list(extra or [])
        self.tmp = harness.make_tmpdir("sim-")
        self.data_root = data_root or os.path.join(self.tmp, "data")
        self.access_key, self.secret_key = access_key, secret_key
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.gateway = ""
        try:
            self.start()
        except BaseException:
            self.cleanup()  # a simulator that never came up leaves nothing behind either
            raise

    # -------------------------------------------------------------- process
    def start(self, timeout: float = 60) -> None:
        listen = f"127.0.0.1:{self.port}"
        self.log_path = os.path.join(self.tmp, f"sim-{int(time.time() * 1000)}.log")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [SIM_BINARY, "--log-level", "debug", self.cloud, "--listen", listen,
             "--data-root", self.data_root, *self.extra],
            stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        pattern = re.compile(r"ready on http://([\d.]+):(\d+) \(VPC (\S+), workloads reach it at ([\d.]+):")
        while time.time() < deadline:
            text = open(self.log_path).read()
            m = pattern.search(text)
            if m:
                self.port = int(m.group(2))
                self.vpc_cidr = m.group(3)
                self.gateway = m.group(4)
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"sockerless-sim exited {self.proc.returncode}:\n{text[-4000:]}")
            time.sleep(0.05)
        raise RuntimeError(f"sockerless-sim not ready in {timeout}s:\n{open(self.log_path).read()[-4000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int | None:
        if not self.proc or self.proc.poll() is not None:
            if self.proc and not self._log.closed:
                self._log.close()
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)
        finally:
            self._log.close()

    def log(self) -> str:
        return open(self.log_path).read()

    def cleanup(self) -> list[str]:
        """Stops the simulator and removes whatever it left: workload processes, mounts,
        the VPC bridge. Returns what had to be removed by force."""
        problems = []
        self.stop()
        engine_root = os.path.join(self.data_root, "workloads")
        for cid in harness.remove_daemon_containers(engine_root):
            problems.append(f"workload {cid[:12]} outlived the simulator")
        harness.remove_daemon_bridges(engine_root)
        harness.umount_under(self.tmp)
        shutil.rmtree(self.tmp, ignore_errors=True)
        return problems

    # -------------------------------------------------------------- clients
    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_CONFIG_FILE": os.path.join(self.tmp, "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": os.path.join(self.tmp, "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_PAGER": "",
        })
        return env

    def aws_raw(self, *args: str, timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(VENV_BIN / "aws"), "--output", "json", *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout, input=input)

    def aws(self, *args: str, timeout: float = 120):
        p = self.aws_raw(*args, timeout=timeout)
        if p.returncode != 0:
            raise AwsCliError(args, p)
        return json.loads(p.stdout) if p.stdout.strip() else None

    def client(self, service: str, **kw):
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(aws_access_key_id=kw.pop("access_key", self.access_key),
                                        aws_secret_access_key=kw.pop("secret_key", self.secret_key),
                                        region_name=kw.pop("region", "us-east-1"))
        return session.client(service, endpoint_url=self.endpoint,
                              config=Config(retries={"max_attempts": 1}), **kw)


@pytest.fixture(scope="session")
def sim_binary() -> str:
    if not os.path.exists(SIM_BINARY):
        pytest.fail(f"{SIM_BINARY} is not built (ninja -C build sockerless-sim)")
    if os.geteuid() != 0:
        pytest.skip("the simulator runs workloads in the memory backend's sandbox: needs root")
    if not (VENV_BIN / "aws").exists():
        pytest.fail("awscli is not installed in .venv (scripts/install-deps.sh)")
    return SIM_BINARY


@pytest.fixture
def sim_factory(sim_binary):
    made: list[Sim] = []

    def make(**kw) -> Sim:
        s = Sim(**kw)
        made.append(s)
        return s

    yield make
    problems = []
    for s in made:
        problems += s.cleanup()
    assert not problems, problems


@pytest.fixture(scope="module")
def aws_sim(sim_binary):
    s = Sim()
    yield s
    problems = s.cleanup()
    assert not problems, problems


def wait_for(pred, timeout: float = 60, interval: float = 0.2, what: str = "condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def code_of(err) -> str:
    """The AWS error code a botocore ClientError carries."""
    return err.response["Error"]["Code"]


def refused(fn, code: str, words: str = "", **kw) -> str:
    """Calls fn(**kw), which must fail with `code` and a message holding `words`."""
    from botocore.exceptions import ClientError
    with pytest.raises(ClientError) as e:
        fn(**kw)
    assert code_of(e.value) == code, e.value.response
    message = e.value.response["Error"]["Message"]
    assert words in message, message
    return message


def default_subnet(sim: "Sim") -> str:
    """The default VPC's first default subnet (zone a), as a backend would find it."""
    subnets = sim.client("ec2").describe_subnets(
        Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    return sorted(subnets, key=lambda s: s["AvailabilityZone"])[0]["SubnetId"]

"""pytest setup of the client suites: the real tools (act, docker compose v5,
gitlab-ci-local, Testcontainers) driven against a live sockerlessd.

The integration suite's conftest (tests/integration/conftest.py) is loaded as a plugin, so
everything it provides works here the same way: `sockerlessd`, `sockerlessd_factory`,
`dockerd`, `engine`, SOCKERLESS_TEST_BACKEND (memory / docker), the per-test timeout and the
`backends(...)` marker; and through it the offline images and registries of tests/fixtures
(`registry`, `client_images`, `debian_image`, `hub_mirror`, ...).

This file adds where the tools are (scripts/install-clients.sh puts them there), and gives the
docker backend's engine (`backing_dockerd`) the `hub_mirror` as its registry mirror:
  tools            Tools: .act, .docker_compose, .bun, .gitlab_ci_local (argv prefixes),
                   .node_modules, .go_dir (tests/clients/go), .docker_config(dir) for the
                   `docker compose` CLI plugin
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
sys.path.insert(0, str(TESTS))                   # fixtures.*
sys.path.insert(0, str(TESTS / "integration"))   # harness (imported by integration.conftest)
pytest_plugins = ["integration.conftest"]

TOOLS_DIR = Path(os.environ.get("SOCKERLESS_TOOLS_DIR", REPO / ".tools"))


@dataclass
class Tools:
    dir: Path

    @property
    def bin(self) -> Path:
        return self.dir / "bin"

    @property
    def act(self) -> list[str]:
        return [str(self.bin / "act")]

    @property
    def docker_compose(self) -> list[str]:
        """The standalone binary (the same build as the CLI plugin)."""
        return [str(self.bin / "docker-compose")]

    @property
    def cli_plugins(self) -> Path:
        return self.dir / "cli-plugins"

    @property
    def node_modules(self) -> Path:
        return self.dir / "node" / "node_modules"

    @property
    def bun(self) -> list[str]:
        return [str(self.node_modules / ".bin" / "bun")]

    @property
    def gitlab_ci_local(self) -> list[str]:
        """gitlab-ci-local 4.75 under bun (it needs Node 22's Set methods)."""
        return self.bun + [str(self.node_modules / "gitlab-ci-local" / "dist" / "index.js")]

    @property
    def go_dir(self) -> Path:
        return TESTS / "clients" / "go"

    def docker_config(self, directory: str | os.PathLike) -> str:
        """Write a DOCKER_CONFIG dir whose config.json makes `docker compose` the pinned
        v5 plugin (cliPluginsExtraDirs); returns it."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        cfg = d / "config.json"
        doc = json.loads(cfg.read_text()) if cfg.is_file() else {}
        doc["cliPluginsExtraDirs"] = [str(self.cli_plugins)]
        cfg.write_text(json.dumps(doc))
        return str(d)


@pytest.fixture(scope="session")
def tools() -> Tools:
    t = Tools(TOOLS_DIR)
    missing = [p for p in (t.bin / "act", t.bin / "docker-compose", t.cli_plugins / "docker-compose",
                           t.node_modules / ".bin" / "bun") if not os.access(p, os.X_OK)]
    if missing:
        pytest.skip(f"missing {', '.join(map(str, missing))} (run scripts/install-clients.sh)")
    return t


@pytest.fixture(scope="session")
def backing_dockerd(docker_config, hub_mirror):
    """The engine under sockerless's docker backend (SOCKERLESS_TEST_BACKEND=docker), as the
    integration suite's, with the Docker Hub mirror as its registry mirror: that backend's
    pulls are its engine's, so the tools' Docker Hub names resolve there. Its storage is
    overlay2, not the integration suite's vfs: the tools start many containers of the
    ~90 MB Debian image, which vfs copies whole for each (gitlab-ci-local's suite took
    5.5 min on vfs, about 1 min on overlay2). It has a default bridge network, on a bridge
    of its own, as a stock dockerd has: the Testcontainers libraries publish ports (their
    reaper's too) from containers on the default network."""
    from harness import run_dockerd

    with run_dockerd(docker_config, "backing-dockerd", storage_driver="overlay2",
                     extra=["--registry-mirror", hub_mirror.url], bridge=f"slbd-{os.getpid() % 100000}") as d:
        yield d


@contextlib.contextmanager
def mirrored_daemon(request, which: str, name: str):
    """A daemon of the suite's own whose Docker Hub mirror is `hub_mirror`: sockerlessd on
    the backend under test (`which` "sockerlessd"), or a reference dockerd named `name`
    (on overlay2, as `backing_dockerd`)."""
    from harness import BACKEND, SockerlessFactory, purge_engine, run_dockerd

    docker_config = request.getfixturevalue("docker_config")
    mirror = request.getfixturevalue("hub_mirror").url
    if which == "dockerd":
        with run_dockerd(docker_config, name, storage_driver="overlay2",
                         extra=["--registry-mirror", mirror]) as d:
            yield d
        return
    backend_args = request.getfixturevalue("backend_args")
    if BACKEND == "docker":
        purge_engine(request.getfixturevalue("backing_dockerd"))
    f = SockerlessFactory(docker_config, backend_args=backend_args)
    try:
        yield f.start("--registry-mirror", mirror)
    finally:
        f.close()


@pytest.fixture(scope="session")
def hub_daemon():
    """`mirrored_daemon`, for the suites' own daemon fixtures."""
    return mirrored_daemon

"""Moving images in and out with real clients: `docker save` / `docker load` (also across
sockerless <-> the reference dockerd), `docker import`, `docker push` (mount / already
exists, pulled back by a fresh daemon), a registry mirror standing in for Docker Hub,
and a pull killed mid-download (SIGKILL) that must leave nothing behind.

Images come from the local registries of tests/fixtures; the reference dockerd
(20.10, API 1.41) is used where a test says "dockerd".
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import signal
import subprocess
import tarfile
import time
import urllib.parse
from pathlib import Path

import pytest

from harness import DOCKER_CLI, cli_env, json_lines

pytestmark = pytest.mark.timeout(30)

DIGEST_LINE = re.compile(r"^(\S+): digest: (sha256:[0-9a-f]{64}) size: (\d+)$", re.M)


# ============================================================================ helpers


def cli(d, *args, ok: bool = True, **kw):
    """docker CLI against daemon d; asserts success unless ok=False."""
    kw.setdefault("timeout", 60)
    r = d.docker(*args, **kw)
    if ok:
        assert r.returncode == 0, (
            f"`docker {' '.join(args)}` on {d.name} failed (rc={r.returncode}):\n"
            f"stdout: {r.stdout}\nstderr: {r.stderr}")
    return r


def q(name: str) -> str:
    return urllib.parse.quote(name, safe="/:@")


def api_json(d, path: str, version: str = "v1.41"):
    r = d.raw("GET", f"/{version}{path}", timeout=20)
    assert r.status == 200, (d.name, path, r)
    return r.json()


def inspect(d, name: str) -> dict:
    return api_json(d, f"/images/{q(name)}/json")


def image_ids(d) -> set[str]:
    return {i["Id"] for i in api_json(d, "/images/json?all=1")}


def repo_tags(d) -> set[str]:
    return {t for i in api_json(d, "/images/json?all=1") for t in (i.get("RepoTags") or [])}


def wipe(d) -> None:
    for _ in range(5):
        ids = image_ids(d)
        if not ids:
            return
        for i in ids:
            d.raw("DELETE", f"/images/{i}?force=1", timeout=20)
    assert not image_ids(d), f"could not empty the image store of {d.name}"


def pull(d, ref: str):
    return cli(d, "pull", ref)


def tar_names(path) -> set[str]:
    with tarfile.open(path) as t:
        return set(t.getnames())


def tar_json(path, name: str):
    with tarfile.open(path) as t:
        return json.load(t.extractfile(name))


def layer_final_states(out: str) -> dict[str, str]:
    """Short layer ID -> the last status the CLI printed for it."""
    states = {}
    for line in out.splitlines():
        if re.match(r"^[0-9a-f]{12}: ", line):
            states[line[:12]] = line[14:].strip()
    return states


def loaded_lines(out: str) -> list[str]:
    return [l.strip() for l in out.splitlines() if l.startswith("Loaded image")]


# ============================================================================ fixtures

_touched: set = set()


@pytest.fixture
def s(sockerlessd):
    wipe(sockerlessd)
    yield sockerlessd


@pytest.fixture
def d(dockerd):
    wipe(dockerd)
    _touched.add(dockerd)
    yield dockerd
    wipe(dockerd)


@pytest.fixture(scope="module", autouse=True)
def _leave_dockerd_clean():
    yield
    for dd in list(_touched):
        try:
            wipe(dd)
        except Exception:  # pragma: no cover - best effort
            pass
    _touched.clear()


_seq = iter(range(1, 10_000))


# ============================================================================ save / load


@pytest.mark.backends("memory", reason="asserts sockerless's OCI-layout save; dockerd 20.10 writes the legacy layout only")
def test_save_rmi_load_cli(s, registry, tmp_path):
    img = registry.images["busybox:latest"]
    pull(s, img.ref)
    out = tmp_path / "x.tar"
    cli(s, "save", img.ref, "-o", str(out))
    names = tar_names(out)
    assert {"manifest.json", "index.json", "oci-layout"} <= names, names
    manifest = tar_json(out, "manifest.json")
    assert len(manifest) == 1, manifest
    assert manifest[0]["RepoTags"] == [img.ref], manifest
    assert manifest[0]["Config"] in names
    assert all(l in names for l in manifest[0]["Layers"]), manifest
    assert tar_json(out, "oci-layout") == {"imageLayoutVersion": "1.0.0"}
    index = tar_json(out, "index.json")
    assert index["schemaVersion"] == 2 and index["manifests"], index

    cli(s, "rmi", img.ref)
    assert not image_ids(s)
    r = cli(s, "load", "-i", str(out))
    assert loaded_lines(r.stdout) == [f"Loaded image: {img.ref}"], r.stdout
    doc = inspect(s, img.ref)
    assert doc["Id"] == img.config_digest
    assert doc["RepoTags"] == [img.ref]
    # the loaded image is usable by the rest of the image API
    hist = json_lines(cli(s, "history", "--no-trunc", "--format", "{{json .}}", img.ref).stdout)
    assert hist[0]["ID"] == img.config_digest


def test_save_two_images_loads_both(s, registry, tmp_path):
    a, b = registry.images["busybox:latest"], registry.images["multilayer:latest"]
    pull(s, a.ref)
    pull(s, b.ref)
    out = tmp_path / "two.tar"
    cli(s, "save", a.ref, b.ref, "-o", str(out))
    manifest = tar_json(out, "manifest.json")
    assert sorted(t for m in manifest for t in m["RepoTags"]) == sorted([a.ref, b.ref]), manifest
    cli(s, "rmi", a.ref, b.ref)
    assert not image_ids(s)
    r = cli(s, "load", "-i", str(out))
    assert sorted(loaded_lines(r.stdout)) == sorted(
        [f"Loaded image: {a.ref}", f"Loaded image: {b.ref}"]), r.stdout
    assert image_ids(s) == {a.config_digest, b.config_digest}
    assert inspect(s, a.ref)["RepoTags"] == [a.ref]
    assert inspect(s, b.ref)["RepoTags"] == [b.ref]


def test_load_from_stdin(s, registry, tmp_path):
    img = registry.images["busybox:latest"]
    pull(s, img.ref)
    out = tmp_path / "x.tar"
    cli(s, "save", img.ref, "-o", str(out))
    cli(s, "rmi", img.ref)
    with open(out, "rb") as f:
        r = subprocess.run([DOCKER_CLI, "-H", s.host, "load"], stdin=f, capture_output=True,
                           text=True, timeout=60, env=cli_env(s.docker_config))
    assert r.returncode == 0, r.stderr
    assert loaded_lines(r.stdout) == [f"Loaded image: {img.ref}"], r.stdout
    assert inspect(s, img.ref)["Id"] == img.config_digest


def test_save_missing_matches_dockerd(s, d, tmp_path):
    """dockerd 20.10: GET /images/get?names=nosuch:latest -> 404 {"message":"reference does
    not exist"}; the CLI prints "Error response from daemon: reference does not exist"."""
    msgs = {}
    for dm in (s, d):
        r = dm.raw("GET", "/v1.41/images/get?names=nosuch%3Alatest")
        assert r.status == 404, (dm.name, r)
        out = tmp_path / f"{dm.name}.tar"
        r = cli(dm, "save", "nosuch:latest", "-o", str(out), ok=False)
        assert r.returncode != 0
        msgs[dm.name] = r.stderr.strip()
    assert msgs["sockerlessd"].startswith("Error response from daemon: "), msgs
    assert msgs["sockerlessd"] == msgs["dockerd"]


@pytest.mark.backends("memory", reason="asserts sockerless's OCI-layout save; dockerd 20.10 writes the legacy layout only")
def test_sdk_save_load_round_trip(s, registry):
    img = registry.images["multilayer:latest"]
    pull(s, img.ref)
    c = s.client()
    data = b"".join(c.images.get(img.ref).save(named=True))
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        assert {"manifest.json", "index.json", "oci-layout"} <= set(t.getnames())
    c.images.remove(img.ref)
    assert not image_ids(s)
    loaded = c.images.load(data)
    assert [i.id for i in loaded] == [img.config_digest]
    assert loaded[0].tags == [img.ref]
    assert inspect(s, img.ref)["Id"] == img.config_digest


def test_tar_saved_by_dockerd_loads_into_sockerless(s, d, registry, tmp_path):
    img = registry.images["multilayer:latest"]
    pull(d, img.ref)
    out = tmp_path / "from-dockerd.tar"
    cli(d, "save", img.ref, "-o", str(out))
    assert "manifest.json" in tar_names(out)  # 20.10 writes the legacy layout only
    r = cli(s, "load", "-i", str(out))
    assert loaded_lines(r.stdout) == [f"Loaded image: {img.ref}"], r.stdout
    doc = inspect(s, img.ref)
    assert doc["Id"] == img.config_digest == inspect(d, img.ref)["Id"]
    assert doc["RepoTags"] == [img.ref]
    assert doc["RootFS"] == inspect(d, img.ref)["RootFS"]


def test_tar_saved_by_sockerless_loads_into_dockerd(s, d, registry, tmp_path):
    img = registry.images["multilayer:latest"]
    pull(s, img.ref)
    out = tmp_path / "from-sockerless.tar"
    cli(s, "save", img.ref, "-o", str(out))
    r = cli(d, "load", "-i", str(out))
    assert loaded_lines(r.stdout) == [f"Loaded image: {img.ref}"], r.stdout
    doc = inspect(d, img.ref)
    assert doc["Id"] == img.config_digest == inspect(s, img.ref)["Id"]
    assert doc["RepoTags"] == [img.ref]
    # dockerd can use it: the history (from the config) matches sockerless'
    hist = {dm.name: api_json(dm, f"/images/{q(img.ref)}/history") for dm in (s, d)}
    assert [h["CreatedBy"] for h in hist["dockerd"]] == [h["CreatedBy"] for h in hist["sockerlessd"]]


# ============================================================================ import

FILES = {"hello.txt": b"hello from import\n", "dir/data.bin": bytes(range(256)) * 16}


def make_rootfs_tar(path: Path, compress: bool = False) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        ti = tarfile.TarInfo("dir")
        ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 1_600_000_000
        t.addfile(ti)
        for name, content in FILES.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(content), 0o644, 1_600_000_000
            t.addfile(ti, io.BytesIO(content))
    raw = buf.getvalue()
    path.write_bytes(gzip.compress(raw, mtime=0) if compress else raw)
    return path


IMPORT_ARGS = ["-c", 'CMD ["/bin/sh"]', "-c", "ENV A=b", "-m", "msg"]


@pytest.mark.parametrize("compress", [False, True], ids=["tar", "tar.gz"])
def test_import_with_changes(s, tmp_path, compress):
    tar = make_rootfs_tar(tmp_path / ("rootfs.tar.gz" if compress else "rootfs.tar"), compress)
    name = f"imported{next(_seq)}:v1"
    r = cli(s, "import", *IMPORT_ARGS, str(tar), name)
    iid = r.stdout.strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", iid), r.stdout
    doc = inspect(s, name)
    assert doc["Id"] == iid
    assert doc["RepoTags"] == [name]
    assert doc["Config"]["Cmd"] == ["/bin/sh"]
    assert "A=b" in (doc["Config"]["Env"] or [])
    assert doc["Comment"] == "msg"
    assert doc["Architecture"] and doc["Os"] == "linux"
    assert len(doc["RootFS"]["Layers"]) == 1
    hist = json_lines(cli(s, "history", "--no-trunc", "--format", "{{json .}}", name).stdout)
    assert len(hist) == 1, hist
    assert hist[0]["Comment"] == "msg"
    assert hist[0]["ID"] == iid
    assert name in repo_tags(s)


def test_import_matches_dockerd(s, d, tmp_path):
    """Same tar, same changes: the same layer (diff ID), Config and Comment as dockerd.
    (The image IDs differ: the config carries the import time.)"""
    tar = make_rootfs_tar(tmp_path / "rootfs.tar")
    docs = {}
    for dm in (s, d):
        cli(dm, "import", *IMPORT_ARGS, str(tar), "impcmp:v1")
        docs[dm.name] = inspect(dm, "impcmp:v1")
    for k in ("RepoTags", "Comment", "RootFS", "Architecture", "Os"):
        assert docs["sockerlessd"][k] == docs["dockerd"][k], k
    for k in ("Cmd", "Env", "Entrypoint", "WorkingDir"):
        assert docs["sockerlessd"]["Config"][k] == docs["dockerd"]["Config"][k], k


# ============================================================================ push


@pytest.mark.backends("memory", reason="asserts sockerless's push progress IDs")
def test_push_and_pull_back_fresh_daemon(s, registry, sockerlessd_factory):
    img = registry.images["busybox:latest"]
    pull(s, img.ref)
    n = next(_seq)
    target = f"{registry.host}/pushed{n}/x:v1"
    cli(s, "tag", img.ref, target)
    r = cli(s, "push", target)
    assert f"The push refers to repository [{registry.host}/pushed{n}/x]" in r.stdout, r.stdout
    m = DIGEST_LINE.search(r.stdout)
    assert m, r.stdout
    assert m.group(1) == "v1"
    body, ctype, served = registry.get_manifest(f"pushed{n}/x", "v1")
    assert m.group(2) == served
    assert int(m.group(3)) == len(body)
    pushed = json.loads(body)
    assert pushed["config"]["digest"] == img.config_digest
    assert [l["digest"] for l in pushed["layers"]] == img.layers  # the blobs it pulled
    assert inspect(s, target)["RepoDigests"] and \
        f"{registry.host}/pushed{n}/x@{served}" in inspect(s, target)["RepoDigests"]

    fresh = sockerlessd_factory.start()
    r = cli(fresh, "pull", target)
    assert f"Digest: {served}" in r.stdout, r.stdout
    assert inspect(fresh, target)["Id"] == img.config_digest

    # a second repository in the same registry: the layers are cross-mounted (or already
    # there); none is uploaded again
    second = f"{registry.host}/pushed{n}/y:v1"
    cli(s, "tag", img.ref, second)
    r = cli(s, "push", second)
    final = layer_final_states(r.stdout)
    assert set(final) == {l[7:19] for l in img.layers}, r.stdout
    assert all(st.startswith("Mounted from ") or st == "Layer already exists"
               for st in final.values()), r.stdout
    assert "Pushed" not in r.stdout, r.stdout
    m2 = DIGEST_LINE.search(r.stdout)
    assert m2 and m2.group(2) == served, r.stdout
    assert registry.tags(f"pushed{n}/y") == ["v1"]


def test_push_multilayer_with_sdk(s, registry, sockerlessd_factory):
    img = registry.images["multilayer:latest"]
    pull(s, img.ref)
    n = next(_seq)
    repo = f"{registry.host}/sdkpush{n}/m"
    c = s.client()
    c.images.get(img.ref).tag(repo, "t1")
    events = list(c.images.push(repo, "t1", stream=True, decode=True))
    assert not [e for e in events if "error" in e or "errorDetail" in e], events
    aux = [e["aux"] for e in events if "aux" in e]
    assert aux and aux[-1]["Tag"] == "t1" and aux[-1]["Digest"].startswith("sha256:"), events
    _, _, served = registry.get_manifest(f"sdkpush{n}/m", "t1")
    assert aux[-1]["Digest"] == served
    fresh = sockerlessd_factory.start()
    fresh.client().images.pull(repo, tag="t1")
    assert inspect(fresh, f"{repo}:t1")["Id"] == img.config_digest


@pytest.mark.parametrize("case", ["missing-repo", "missing-tag"])
def test_push_missing_matches_dockerd(s, d, registry, case):
    """missing-repo: nothing local in that repository; dockerd 20.10 prints "The push
    refers to repository [...]" and then fails in the stream with "An image does not exist
    locally with the tag: <repo>". missing-tag: the repository has another tag."""
    n = next(_seq)
    repo = f"{registry.host}/nopush{n}/none"
    res = {}
    for dm in (s, d):
        if case == "missing-tag":
            pull(dm, registry.images["busybox:latest"].ref)
            cli(dm, "tag", registry.images["busybox:latest"].ref, f"{repo}:other")
        r = cli(dm, "push", f"{repo}:v1", ok=False)
        assert r.returncode != 0, (dm.name, r.stdout)
        res[dm.name] = (r.stdout.strip(), r.stderr.strip())
    assert res["sockerlessd"] == res["dockerd"], res
    assert f"nopush{n}/none" not in registry.catalog()


# ============================================================================ mirror


@pytest.mark.backends("memory", reason="--registry-mirror configures sockerless's own puller")
def test_registry_mirror_serves_docker_hub_names(sockerlessd_factory, registry_factory, test_images):
    mirror = registry_factory(name="mirror")
    pushed = mirror.push(test_images.busybox, "library/busybox", "latest", "v2s2")
    dm = sockerlessd_factory.start("--registry-mirror", f"http://{mirror.host}")
    info = api_json(dm, "/info")
    assert info["RegistryConfig"]["Mirrors"] in ([f"http://{mirror.host}/"],
                                                  [f"http://{mirror.host}"]), info["RegistryConfig"]
    r = cli(dm, "pull", "busybox")  # docker.io/library/busybox:latest; no internet here
    assert "Using default tag: latest" in r.stdout, r.stdout
    assert f"Digest: {pushed.digest}" in r.stdout, r.stdout
    assert "Status: Downloaded newer image for busybox:latest" in r.stdout, r.stdout
    assert r.stdout.rstrip().splitlines()[-1] == "docker.io/library/busybox:latest", r.stdout
    out = cli(dm, "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout.split("\n")
    assert f"busybox:latest {pushed.config_digest[7:19]}" in out, out
    doc = inspect(dm, "busybox")
    assert doc["Id"] == pushed.config_digest
    assert doc["RepoDigests"] == [f"busybox@{pushed.digest}"]
    assert "/v2/library/busybox/manifests/latest" in mirror.log_text()


# ============================================================================ killed pull


def _ingest_bytes(data_root: str) -> int:
    total = 0
    p = Path(data_root) / "image" / "ingest"
    if p.is_dir():
        for f in p.rglob("*"):
            try:
                if f.is_file():
                    total += f.stat().st_size
            except OSError:
                pass
    return total


@pytest.mark.backends("memory", reason="looks into sockerless's own image store")
@pytest.mark.timeout(60)
def test_pull_killed_mid_download_leaves_nothing(sockerlessd_factory, big_pushed):
    root = os.path.join(sockerlessd_factory.new_tmp(), "data")
    d1 = sockerlessd_factory.start(data_root=root)
    client = subprocess.Popen([DOCKER_CLI, "-H", d1.host, "pull", big_pushed.ref],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=cli_env(d1.docker_config))
    try:
        t0 = time.monotonic()
        seen = 0
        while time.monotonic() - t0 < 10 and client.poll() is None:
            seen = _ingest_bytes(root)
            if seen > 0:
                break
            time.sleep(0.002)
        d1.signal(signal.SIGKILL)
        d1.proc.wait(10)
    finally:
        try:
            out, errs = client.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            client.kill()
            out, errs = client.communicate()
    assert seen > 0, f"no bytes ever reached {root}/image/ingest; pull output: {out}{errs}"
    assert client.returncode != 0, f"the pull finished before the kill:\n{out}"

    d2 = sockerlessd_factory.start(data_root=root)
    assert big_pushed.ref not in repo_tags(d2)
    assert not image_ids(d2)
    listed = cli(d2, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert big_pushed.ref not in listed, listed
    ingest = Path(root) / "image" / "ingest"
    assert not ingest.exists() or not any(ingest.iterdir()), list(ingest.iterdir())

    r = cli(d2, "pull", big_pushed.ref, timeout=45)
    assert f"Digest: {big_pushed.digest}" in r.stdout, r.stdout
    doc = inspect(d2, big_pushed.ref)
    assert doc["Id"] == big_pushed.config_digest
    assert doc["RepoDigests"] == [big_pushed.canonical]
    assert not any(ingest.iterdir())


# ================================================================ load of what is no image

GARBAGE = {
    "short": b"garbage" * 10,                                   # less than a header block
    "random": bytes((i * 131 + 7) % 251 for i in range(4096)),  # blocks, none a header
    "empty": b"",
    "tar-without-image": None,                                  # made in the test
}
TMP_PATH = re.compile(r"open \S+/repositories")


@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_load_of_garbage_matches_dockerd(s, d, kind, tmp_path):
    """dockerd answers 200 with a JSON stream whatever the body, and a load that fails says
    why in it: the CLI prints that and exits 1, the Python SDK raises ImageLoadError."""
    import docker

    body = GARBAGE[kind]
    if body is None:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo("hello.txt")
            info.size = 6
            tar.addfile(info, io.BytesIO(b"hello\n"))
        body = buf.getvalue()
    src = tmp_path / "body"
    src.write_bytes(body)
    out = {}
    for eng in (s, d):
        r = eng.raw("POST", "/v1.41/images/load?quiet=1", body=body,
                    headers={"Content-Type": "application/x-tar"}, timeout=20)
        raw = (r.status, r.headers.get("Content-Type"), [json.loads(line) for line in r.text.splitlines()])
        c = cli(eng, "load", "-i", str(src), ok=False)
        try:
            eng.client().images.load(body)
            sdk = "loaded"
        except docker.errors.ImageLoadError as e:
            sdk = str(e)
        out[eng.name] = TMP_PATH.sub("open <tmp>/repositories", json.dumps(
            {"raw": raw, "cli": (c.returncode, c.stdout, c.stderr), "sdk": sdk}))
    assert out[s.name] == out[d.name]

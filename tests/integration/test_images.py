"""Image API with real clients: pull, list (+filters), inspect, history, tag, rmi, prune,
garbage collection, a corrupted blob, image events; the docker CLI, the Python SDK and raw
HTTP against sockerlessd, with the reference dockerd pulling the same images from the same
local registry (tests/fixtures) wherever a test says "matches_dockerd".

Registry login and private pulls are in test_images_auth.py.

Known, deliberate differences from dockerd 20.10 (API 1.41) that the comparisons leave out,
each with its reason at the place it is left out:
  * GraphDriver.Name ("overlayfs" vs "vfs"): different storage, not an API property.
  * VirtualSize: removed from image documents in API 1.44 (the CLI negotiates 1.44 with
    sockerless and 1.41 with dockerd); raw /v1.41 requests do compare it.
  * "Invalid filter" (20.10) vs "invalid filter" (moby >= 23, API 1.44): capitalisation.
  * the wording of socket errors (libcurl vs Go net) for an unreachable registry.
  * layer-level "Deleted: <chain id>" entries dockerd adds to prune/rmi answers (its
    layer store's chain IDs; sockerless reports image-level entries only).

Order of RepoTags / RepoDigests / rmi lines is compared in dedicated tests only, so that
one ordering difference does not hide the rest of a comparison.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import urllib.parse
from pathlib import Path

import pytest

from harness import free_tcp_port, json_lines

pytestmark = pytest.mark.timeout(30)

HEX12 = re.compile(r"^[0-9a-f]{12}: ")
ZERO_DIGEST = "sha256:" + "0" * 64


# ============================================================================ helpers


def cli(d, *args, ok: bool = True, **kw):
    """docker CLI against daemon d; asserts success unless ok=False."""
    r = d.docker(*args, **kw)
    if ok:
        assert r.returncode == 0, (
            f"`docker {' '.join(args)}` on {d.name} failed (rc={r.returncode}):\n"
            f"stdout: {r.stdout}\nstderr: {r.stderr}")
    return r


def err(r) -> str:
    """The CLI's error text (stderr, stripped)."""
    return r.stderr.strip()


def q(name: str) -> str:
    return urllib.parse.quote(name, safe="/:@")


def api(d, method: str, path: str, version: str | None = "v1.41", body=None, headers=None,
        timeout: float = 20):
    """Raw request; version "v1.41" so dockerd 20.10 and sockerless answer the same API."""
    p = f"/{version}{path}" if version else path
    return d.raw(method, p, body=body, headers=headers, timeout=timeout)


def api_json(d, path: str, version: str | None = "v1.41"):
    r = api(d, "GET", path, version)
    assert r.status == 200, (d.name, path, r)
    return r.json()


def inspect(d, name: str, version: str | None = "v1.41") -> dict:
    return api_json(d, f"/images/{q(name)}/json", version)


def image_ids(d) -> set[str]:
    return {i["Id"] for i in api_json(d, "/images/json?all=1", None)}


def wipe(d) -> None:
    """Remove every image (force) so a test starts from an empty store."""
    for _ in range(5):
        ids = image_ids(d)
        if not ids:
            return
        for i in ids:
            d.raw("DELETE", f"/images/{i}?force=1", timeout=20)
    assert not image_ids(d), f"could not empty the image store of {d.name}"


def pull(d, ref: str, *args, ok: bool = True):
    return cli(d, "pull", *args, ref, ok=ok, timeout=60)


def summary(out: str) -> list[str]:
    """Pull output without the per-layer progress lines (their interleaving and the
    intermediate states shown are timing dependent)."""
    return [line for line in out.splitlines() if line.strip() and not HEX12.match(line)]


def layer_final_states(out: str) -> dict[str, str]:
    states = {}
    for line in out.splitlines():
        if HEX12.match(line):
            states[line[:12]] = line[14:].strip()
    return states


def rmi_lines(r) -> set[str]:
    return {line.strip() for line in r.stdout.splitlines() if line.strip()}


def norm_filter_error(msg: str) -> str:
    # dockerd 20.10 says "Invalid filter ..."; moby >= 23 (API 1.44, what sockerless
    # implements) says "invalid filter ...". Only the capital letter is normalised.
    return re.sub(r"\bInvalid filter\b", "invalid filter", msg)


def blob_dir(d) -> Path:
    return Path(d.data_root) / "image" / "blobs" / "sha256"


def files_under(p: Path) -> list[str]:
    if not p.exists():
        return []
    return sorted(str(f.relative_to(p)) for f in p.rglob("*") if f.is_file())


def host_arch() -> str:
    m = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


# ============================================================================ fixtures

# dockerd is shared by the whole session: every test that pulls into it empties it again.
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


_move_seq = iter(range(1, 10_000))


def make_dangling(registry, test_images, daemons):
    """Pull <repo>:latest (busybox) into every daemon, then move the tag in the registry to
    multilayer and pull again: the busybox image keeps only its digest reference
    (repo@sha256:...), i.e. dockerd shows it as <none>. Returns (repo, old, new) with
    old/new the PushedImage of each push."""
    repo = f"moving{next(_move_seq)}"
    old = registry.push(test_images.busybox, repo, "latest", "v2s2")
    for dm in daemons:
        pull(dm, registry.ref(f"{repo}:latest"))
    new = registry.push(test_images.multilayer, repo, "latest", "v2s2")
    for dm in daemons:
        pull(dm, registry.ref(f"{repo}:latest"))
    return repo, old, new


# ============================================================================ pull


def test_pull_by_tag_cli(s, registry):
    img = registry.images["busybox:latest"]
    r = pull(s, img.ref)
    out = r.stdout
    assert "latest: Pulling from busybox" in out, out
    assert f"Digest: {img.digest}\n" in out, out
    assert f"Status: Downloaded newer image for {img.ref}\n" in out, out
    assert out.rstrip().splitlines()[-1] == img.ref, out
    assert layer_final_states(out) == {l[7:19]: "Pull complete" for l in img.layers}, out

    again = pull(s, img.ref).stdout
    assert f"Digest: {img.digest}\n" in again, again
    assert f"Status: Image is up to date for {img.ref}\n" in again, again
    assert "Downloaded newer image" not in again, again

    doc = inspect(s, img.ref)
    assert doc["Id"] == img.config_digest
    assert doc["RepoTags"] == [img.ref]
    assert doc["RepoDigests"] == [img.canonical]


def test_pull_output_matches_dockerd(s, d, registry):
    img = registry.images["multilayer:latest"]
    outs = {dm.name: pull(dm, img.ref).stdout for dm in (s, d)}
    assert summary(outs["sockerlessd"]) == summary(outs["dockerd"])
    assert layer_final_states(outs["sockerlessd"]) == layer_final_states(outs["dockerd"])


def test_repull_output_matches_dockerd(s, d, registry):
    """A pull of an image that is already complete: dockerd prints no layer lines at all
    (it finds the image config locally and skips the layers)."""
    img = registry.images["busybox:latest"]
    for dm in (s, d):
        pull(dm, img.ref)
    outs = {dm.name: pull(dm, img.ref).stdout for dm in (s, d)}
    assert outs["sockerlessd"] == outs["dockerd"]


def test_pull_by_digest(s, registry):
    img = registry.images["busybox:latest"]
    r = pull(s, img.canonical)
    out = r.stdout
    assert f"Digest: {img.digest}\n" in out, out
    assert f"Status: Downloaded newer image for {img.canonical}\n" in out, out
    assert out.rstrip().splitlines()[-1] == img.canonical
    doc = inspect(s, img.canonical)
    assert doc["Id"] == img.config_digest
    assert doc["RepoTags"] == []
    assert doc["RepoDigests"] == [img.canonical]
    again = pull(s, img.canonical).stdout
    assert f"Status: Image is up to date for {img.canonical}\n" in again, again
    # Listed with tag <none> and its digest.
    rows = cli(s, "images", "--digests", "--format",
               "{{.Repository}} {{.Tag}} {{.Digest}} {{.ID}}").stdout.split("\n")
    assert f"{registry.host}/busybox <none> {img.digest} {img.config_digest[7:19]}" in rows


def test_pull_by_digest_output_matches_dockerd(s, d, registry):
    """dockerd's first line is "<host>/busybox@sha256:...: Pulling from busybox" (the
    whole canonical reference as the progress id)."""
    img = registry.images["busybox:latest"]
    outs = {dm.name: pull(dm, img.canonical).stdout for dm in (s, d)}
    assert summary(outs["sockerlessd"]) == summary(outs["dockerd"])


@pytest.mark.parametrize("repo", ["multiarch:latest", "multiarch-oci:latest"])
def test_pull_platform_arm64(s, registry, repo):
    lst = registry.images[repo]
    child = lst.child("arm64")
    r = pull(s, lst.ref, "--platform", "linux/arm64")
    assert f"Digest: {lst.digest}\n" in r.stdout, r.stdout
    doc = inspect(s, lst.ref)
    assert doc["Id"] == child.config_digest
    assert doc["Architecture"] == "arm64"
    assert doc.get("Variant") == "v8"
    assert doc["Os"] == "linux"
    assert doc["RepoDigests"] == [lst.canonical]  # the index digest, as dockerd records it


def test_pull_index_default_platform(s, registry):
    lst = registry.images["multiarch:latest"]
    child = lst.child(host_arch())
    pull(s, lst.ref)
    doc = inspect(s, lst.ref)
    assert doc["Id"] == child.config_digest
    assert doc["Architecture"] == host_arch()


def test_pull_platform_matches_dockerd(s, d, registry):
    lst = registry.images["multiarch-oci:latest"]
    keys = ("Id", "RepoTags", "RepoDigests", "Architecture", "Variant", "Os", "RootFS", "Size")
    docs = {}
    for dm in (s, d):
        pull(dm, lst.ref, "--platform", "linux/arm64")
        doc = inspect(dm, lst.ref)
        docs[dm.name] = {k: doc.get(k) for k in keys}
    assert docs["sockerlessd"] == docs["dockerd"]


def test_pull_oci_manifest(s, registry):
    img = registry.images["busybox-oci:latest"]
    r = pull(s, img.ref)
    assert f"Digest: {img.digest}\n" in r.stdout
    assert img.digest == img.source.digest  # the layout's own digest, byte-identical
    doc = inspect(s, img.ref)
    assert doc["Id"] == img.config_digest
    assert doc["RepoDigests"] == [img.canonical]
    assert doc["RootFS"] == {"Type": "layers", "Layers": img.config["rootfs"]["diff_ids"]}


def test_pull_multilayer(s, registry):
    img = registry.images["multilayer:latest"]
    r = pull(s, img.ref)
    assert len(img.layers) == 3
    assert layer_final_states(r.stdout) == {l[7:19]: "Pull complete" for l in img.layers}
    doc = inspect(s, img.ref)
    assert doc["RootFS"]["Layers"] == img.config["rootfs"]["diff_ids"]
    assert len(doc["RootFS"]["Layers"]) == 3
    assert doc["Config"]["Entrypoint"] == ["/app/entrypoint.sh"]
    assert doc["Config"]["User"] == "app"


def test_pull_all_tags_matches_dockerd(s, d, registry):
    """`docker pull -a repo` (fromImage without tag) pulls every tag of the repository."""
    tags = {}
    for dm in (s, d):
        pull(dm, f"{registry.host}/busybox", "-a")
        tags[dm.name] = sorted(inspect(dm, registry.images["busybox:latest"].ref)["RepoTags"])
    assert tags["dockerd"] == [f"{registry.host}/busybox:1.0", f"{registry.host}/busybox:latest"]
    assert tags["sockerlessd"] == tags["dockerd"]


@pytest.mark.parametrize("ref", ["busybox:nope", "nosuchrepo:latest", f"busybox@{ZERO_DIGEST}"],
                         ids=["missing-tag", "missing-repo", "missing-digest"])
def test_pull_missing_matches_dockerd(s, d, registry, ref):
    full = registry.ref(ref)
    msgs = {}
    for dm in (s, d):
        r = pull(dm, full, ok=False)
        assert r.returncode != 0
        msgs[dm.name] = err(r)
    if ref == "busybox:nope":
        assert msgs["sockerlessd"] == (
            f"Error response from daemon: manifest for {full} not found: "
            f"manifest unknown: manifest unknown")
    assert msgs["sockerlessd"] == msgs["dockerd"]
    assert not image_ids(s)


def test_pull_missing_tag_is_404(s, registry):
    r = api(s, "POST", f"/images/create?fromImage={q(registry.host + '/busybox')}&tag=nope",
            version="v1.44")
    assert r.status == 404, r
    assert r.json()["message"] == (f"manifest for {registry.host}/busybox:nope not found: "
                                   f"manifest unknown: manifest unknown")


def test_pull_unreachable_registry(s):
    port = free_tcp_port()  # bound and closed again: nothing listens there
    t0 = time.monotonic()
    r = pull(s, f"127.0.0.1:{port}/busybox:latest", ok=False)
    assert time.monotonic() - t0 < 15
    assert r.returncode != 0
    msg = err(r)
    # dockerd: Error response from daemon: Get "http://127.0.0.1:P/v2/": dial tcp
    # 127.0.0.1:P: connect: connection refused  (the socket error's wording differs)
    assert msg.startswith(f'Error response from daemon: Get "http://127.0.0.1:{port}/v2/": '), msg
    assert "connect" in msg.lower(), msg
    assert len(msg.splitlines()) == 1, msg
    assert not image_ids(s)


# ============================================================================ list


def test_images_list_cli(s, registry):
    bb, oci, ml = (registry.images[k] for k in ("busybox:latest", "busybox-oci:latest",
                                                "multilayer:latest"))
    for img in (bb, oci, ml):
        pull(s, img.ref)
    fmt = "{{.Repository}}|{{.Tag}}|{{.ID}}|{{.Size}}"
    rows = set(cli(s, "images", "--format", fmt).stdout.split())
    assert rows == {
        f"{registry.host}/busybox|latest|{bb.config_digest[7:19]}|1.98MB",
        f"{registry.host}/busybox-oci|latest|{bb.config_digest[7:19]}|1.98MB",
        f"{registry.host}/multilayer|latest|{ml.config_digest[7:19]}|1.98MB",
    }
    # -a: no intermediate images exist, so the same rows
    assert set(cli(s, "images", "-a", "--format", fmt).stdout.split()) == rows
    # --digests / --no-trunc
    table = cli(s, "images", "--digests", "--no-trunc").stdout
    header, *lines = table.splitlines()
    assert header.split() == ["REPOSITORY", "TAG", "DIGEST", "IMAGE", "ID", "CREATED", "SIZE"]
    got = {tuple(line.split()[:4]) for line in lines}
    assert got == {
        (f"{registry.host}/busybox", "latest", bb.digest, bb.config_digest),
        (f"{registry.host}/busybox-oci", "latest", oci.digest, bb.config_digest),
        (f"{registry.host}/multilayer", "latest", ml.digest, ml.config_digest),
    }
    # -q: one short ID per row (the shared image twice, as the CLI prints rows)
    assert sorted(cli(s, "images", "-q").stdout.split()) == sorted(
        [bb.config_digest[7:19]] * 2 + [ml.config_digest[7:19]])
    assert sorted(cli(s, "images", "-q", "--no-trunc").stdout.split()) == sorted(
        [bb.config_digest] * 2 + [ml.config_digest])
    # by repository argument
    assert cli(s, "images", "-q", f"{registry.host}/multilayer").stdout.split() == [
        ml.config_digest[7:19]]


def test_images_filter_dangling(s, registry, test_images):
    repo, old, new = make_dangling(registry, test_images, [s])
    arm = registry.images["multiarch:latest"]
    pull(s, arm.ref, "--platform", "linux/arm64")
    fmt = "{{.Repository}}:{{.Tag}}"
    doc = inspect(s, old.config_digest)
    assert doc["RepoTags"] == [] and doc["RepoDigests"] == [old.canonical]
    dangling = cli(s, "images", "--filter", "dangling=true", "--format", fmt).stdout.split()
    assert dangling == [f"{registry.host}/{repo}:<none>"]
    # dockerd (daemon/images/images.go) drops under dangling=false only images with no
    # reference at all: the old image keeps its digest reference, so it shows here too.
    tagged = cli(s, "images", "--filter", "dangling=false", "--format", fmt).stdout.split()
    assert sorted(tagged) == sorted([f"{registry.host}/{repo}:latest", f"{registry.host}/{repo}:<none>",
                                     arm.ref])


@pytest.fixture(scope="module")
def populated(sockerlessd, dockerd, registry, test_images):
    """Both daemons holding the same images: busybox (tagged in three repositories:
    busybox, busybox-oci, and movingN whose tag then moved on, leaving movingN@digest),
    multilayer (tagged as multilayer:latest and movingN:latest), and multiarch/arm64 pulled
    by digest only (no tag: what dockerd calls dangling)."""
    for dm in (sockerlessd, dockerd):
        wipe(dm)
    _touched.add(dockerd)
    repo, old, new = make_dangling(registry, test_images, [sockerlessd, dockerd])
    arm = registry.images["multiarch:latest"]
    for dm in (sockerlessd, dockerd):
        for k in ("busybox:latest", "busybox-oci:latest", "multilayer:latest"):
            pull(dm, registry.images[k].ref)
        pull(dm, arm.canonical, "--platform", "linux/arm64")
        assert inspect(dm, arm.child("arm64").config_digest)["RepoTags"] == []
    info = {"repo": repo, "dangling_id": arm.child("arm64").config_digest}
    yield info
    for dm in (sockerlessd, dockerd):
        wipe(dm)


def _images_out(dm, *args):
    r = cli(dm, "images", *args, ok=False)
    return r.returncode, sorted(r.stdout.splitlines()), norm_filter_error(err(r))


@pytest.mark.parametrize("args", [
    [],
    ["-a"],
    ["--digests"],
    ["-q"],
    ["-q", "--no-trunc"],
    ["--no-trunc", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}} {{.ID}} {{.Size}}"],
], ids=["default", "all", "digests", "quiet", "quiet-notrunc", "format"])
def test_images_list_matches_dockerd(populated, sockerlessd, dockerd, args):
    assert _images_out(sockerlessd, *args) == _images_out(dockerd, *args)


def _sorted_refs(items: list[dict]) -> list[dict]:
    out = []
    for it in items:
        it = dict(it)
        # order of RepoTags/RepoDigests: see test_repotags_order_matches_dockerd
        for k in ("RepoTags", "RepoDigests"):
            if isinstance(it.get(k), list):
                it[k] = sorted(it[k])
        out.append(it)
    return sorted(out, key=lambda i: (i["Id"], i.get("RepoTags") or []))


def test_images_json_matches_dockerd(populated, sockerlessd, dockerd):
    """GET /v1.41/images/json: every field (VirtualSize included at 1.41; dockerd sends
    RepoTags null, not [], for an image that has digest references only)."""
    for query in ("", "?all=1", "?digests=1"):
        got = _sorted_refs(api_json(sockerlessd, "/images/json" + query))
        want = _sorted_refs(api_json(dockerd, "/images/json" + query))
        assert got == want, query


FILTERS = [
    ["dangling=true"],
    ["dangling=false"],
    ["reference=*/busybox*"],
    ["reference={host}/busybox:*"],
    ["reference={host}/busybox"],
    ["reference={host}/multi*:latest"],
    ["reference={host}/multi*"],
    ["reference={host}/*"],
    ["reference=*:latest"],
    ["reference=busybox"],
    ["reference={host}/busybox", "reference={host}/multilayer"],
    ["reference={host}/busybox@{digest}"],
    ["label=com.example.fixture"],
    ["label=com.example.fixture=multilayer"],
    ["label=com.example.fixture=x"],
    ["label=com.example.empty"],
    ["label=com.example.empty="],
    ["label=com.example.fixture", "label=org.opencontainers.image.title=sockerless-multilayer"],
    ["label=nolabel"],
    ["before={host}/multilayer:latest"],
    ["since={host}/busybox:latest"],
    ["before={id}"],
    ["since={id}"],
    ["dangling=false", "reference={host}/multi*"],
    ["dangling=true", "reference=*"],
]


@pytest.mark.parametrize("filters", FILTERS, ids=[" ".join(f) for f in FILTERS])
def test_images_filter_matches_dockerd(populated, sockerlessd, dockerd, registry, filters):
    """dockerd (daemon/images/images.go) keeps only the references matching a reference
    filter, RepoDigests included, and lists an image with digest references but no tag
    under dangling=true *and* dangling=false."""
    bb = registry.images["busybox:latest"]
    args = []
    for f in filters:
        args += ["--filter", f.format(host=registry.host, digest=bb.digest,
                                      id=bb.config_digest[7:19])]
    args += ["--format", "{{.Repository}}:{{.Tag}}@{{.Digest}} {{.ID}}"]
    got, want = _images_out(sockerlessd, *args), _images_out(dockerd, *args)
    assert got == want


BAD_FILTERS = [
    {"nope": ["1"]},
    {"dangling": ["maybe"]},
    {"dangling": ["1"]},
    {"before": ["nosuch"]},
    {"since": ["nosuch"]},
    {"before": ["{host}/nosuch:v1"]},
]


@pytest.mark.parametrize("filters", BAD_FILTERS, ids=[json.dumps(f) for f in BAD_FILTERS])
def test_images_bad_filter_matches_dockerd(populated, sockerlessd, dockerd, registry, filters):
    fj = json.dumps(filters).replace("{host}", registry.host)
    path = "/images/json?filters=" + urllib.parse.quote(fj)
    res = {}
    for dm in (sockerlessd, dockerd):
        r = api(dm, "GET", path)
        body = r.json()
        res[dm.name] = (r.status, norm_filter_error(body["message"]) if r.status != 200
                        else sorted(i["Id"] for i in body))
    assert res["dockerd"][0] in (400, 404)
    assert res["sockerlessd"] == res["dockerd"]


# ============================================================================ inspect / history

INSPECT_CASES = {
    "busybox": ("busybox:latest", []),
    "busybox-oci": ("busybox-oci:latest", []),
    "multilayer": ("multilayer:latest", []),
    "multiarch-arm64": ("multiarch:latest", ["--platform", "linux/arm64"]),
    "multiarch-oci-arm64": ("multiarch-oci:latest", ["--platform", "linux/arm64"]),
}
INSPECT_FIELDS = ("Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "Container",
                  "DockerVersion", "Author", "Config", "ContainerConfig", "Architecture",
                  "Variant", "Os", "OsVersion", "Size", "RootFS", "Metadata")


@pytest.mark.parametrize("case", list(INSPECT_CASES))
def test_inspect_matches_dockerd(s, d, registry, case):
    key, args = INSPECT_CASES[case]
    img = registry.images[key]
    docs = {}
    for dm in (s, d):
        pull(dm, img.ref, *args)
        doc = json.loads(cli(dm, "image", "inspect", img.ref).stdout)
        assert len(doc) == 1
        # GraphDriver: different storage; VirtualSize: gone in API 1.44 (see module doc)
        docs[dm.name] = {k: doc[0].get(k, "<absent>") for k in INSPECT_FIELDS}
    assert docs["sockerlessd"] == docs["dockerd"]
    assert docs["sockerlessd"]["Id"] == (img.config_digest if not img.is_list
                                         else img.child("arm64").config_digest)


def test_inspect_raw_v141_matches_dockerd(s, d, registry):
    """The whole /v1.41/images/{name}/json document except GraphDriver; at API < 1.44
    VirtualSize (= Size) is still part of it (dockerd 20.10 sends it; moby 25 fills it in
    for clients older than 1.44)."""
    img = registry.images["multilayer:latest"]
    docs = {}
    for dm in (s, d):
        pull(dm, img.ref)
        doc = inspect(dm, img.ref)
        doc.pop("GraphDriver")
        docs[dm.name] = doc
    assert docs["sockerlessd"] == docs["dockerd"]


@pytest.mark.backends("memory", reason="API 1.44 behaviour; the harness's dockerd speaks 1.41")
def test_inspect_v144_has_no_virtualsize(s, registry):
    img = registry.images["busybox:latest"]
    pull(s, img.ref)
    doc = inspect(s, img.ref, version="v1.44")
    assert "VirtualSize" not in doc
    assert doc["Size"] > 1_000_000
    listed = api_json(s, "/images/json", "v1.44")
    assert all("VirtualSize" not in i for i in listed)
    assert all("VirtualSize" in i for i in api_json(s, "/images/json", "v1.41"))


@pytest.mark.backends("memory", reason="asserts moby 25's message; the harness's dockerd is 20.10")
def test_inspect_missing_image(s):
    r = api(s, "GET", "/images/nosuch/json", version="v1.44")
    assert r.status == 404, r
    # moby 25: ErrImageDoesNotExist prints the reference with its default tag.
    # (dockerd 20.10 answers "no such image: nosuch: No such image: nosuch:latest".)
    assert r.json()["message"] == "No such image: nosuch:latest"
    cr = cli(s, "image", "inspect", "nosuch", ok=False)
    assert cr.returncode == 1
    assert "No such image: nosuch" in cr.stderr


@pytest.mark.parametrize("key", ["busybox:latest", "multilayer:latest"])
def test_history_matches_dockerd(s, d, registry, key):
    img = registry.images[key]
    hist = {}
    raw = {}
    for dm in (s, d):
        pull(dm, img.ref)
        out = cli(dm, "history", "--no-trunc", "--format", "{{json .}}", img.ref).stdout
        hist[dm.name] = json_lines(out)
        raw[dm.name] = api_json(dm, f"/images/{q(img.ref)}/history")
    cols = ("ID", "CreatedAt", "CreatedBy", "Size", "Comment")
    got = [{c: h.get(c) for c in cols} for h in hist["sockerlessd"]]
    want = [{c: h.get(c) for c in cols} for h in hist["dockerd"]]
    assert got == want
    assert len(got) == len(img.config["history"])
    assert raw["sockerlessd"] == raw["dockerd"]


def test_history_missing_matches_dockerd(s, d):
    msgs = {dm.name: err(cli(dm, "history", "nosuch", ok=False)) for dm in (s, d)}
    assert msgs["sockerlessd"] == msgs["dockerd"]


# ============================================================================ tag


def test_tag_cli(s, registry):
    img = registry.images["busybox:latest"]
    pull(s, img.ref)
    r = cli(s, "tag", img.ref, "other/repo:v1")
    assert r.stdout == "" and r.stderr == ""
    cli(s, "tag", img.config_digest[7:19], "byid:1")          # by short ID
    cli(s, "tag", img.canonical, f"{registry.host}/busybox:v2")  # by digest reference
    doc = inspect(s, "other/repo:v1")
    assert doc["Id"] == img.config_digest
    assert sorted(doc["RepoTags"]) == sorted([img.ref, "other/repo:v1", "byid:1",
                                              f"{registry.host}/busybox:v2"])
    assert doc["RepoDigests"] == [img.canonical]
    assert doc["Metadata"]["LastTagTime"] != "0001-01-01T00:00:00Z"
    rows = set(cli(s, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split())
    assert {"other/repo:v1", "byid:1", img.ref} <= rows
    # re-tagging an existing tag to the same image is a no-op success
    cli(s, "tag", img.ref, "other/repo:v1")


def test_tag_moves_between_images(s, registry):
    bb, ml = registry.images["busybox:latest"], registry.images["multilayer:latest"]
    pull(s, bb.ref)
    pull(s, ml.ref)
    cli(s, "tag", bb.ref, "moveme:1")
    cli(s, "tag", ml.ref, "moveme:1")
    assert inspect(s, "moveme:1")["Id"] == ml.config_digest
    assert "moveme:1" not in inspect(s, bb.ref)["RepoTags"]


def test_tag_matches_dockerd(s, d, registry):
    img = registry.images["busybox:latest"]
    docs = {}
    for dm in (s, d):
        pull(dm, img.ref)
        cli(dm, "tag", img.ref, "other/repo:v1")
        cli(dm, "tag", img.config_digest[7:19], "byid")
        doc = inspect(dm, "byid:latest")
        docs[dm.name] = (sorted(doc["RepoTags"]), sorted(doc["RepoDigests"]),
                         doc["Metadata"]["LastTagTime"] != "0001-01-01T00:00:00Z")
    assert docs["sockerlessd"] == docs["dockerd"]


def test_repotags_order_matches_dockerd(s, d, registry):
    """dockerd lists an image's references sorted lexically (reference store order);
    clients that show "the" tag of an image take the first one."""
    img, oci = registry.images["busybox:latest"], registry.images["busybox-oci:latest"]
    docs = {}
    for dm in (s, d):
        pull(dm, img.ref)
        pull(dm, oci.ref)  # same config: one image, two repositories
        cli(dm, "tag", img.ref, f"{registry.host}/busybox:zzz")
        cli(dm, "tag", img.ref, f"{registry.host}/busybox:aaa")
        doc = inspect(dm, img.ref)
        docs[dm.name] = (doc["RepoTags"], doc["RepoDigests"])
    assert docs["sockerlessd"] == docs["dockerd"]


@pytest.mark.parametrize("src", ["nosuch", "nosuch:1", "{host}/nosuch", ZERO_DIGEST[7:19]])
def test_tag_missing_image_matches_dockerd(s, d, registry, src):
    src = src.format(host=registry.host)
    msgs = {}
    for dm in (s, d):
        r = cli(dm, "tag", src, "target:1", ok=False)
        assert r.returncode == 1
        msgs[dm.name] = err(r)
    assert msgs["sockerlessd"] == msgs["dockerd"]
    r = api(s, "POST", f"/images/{q(src)}/tag?repo=target&tag=1", version="v1.44")
    assert r.status == 404, r


# ============================================================================ rmi


def test_rmi_untag_one_of_two(s, registry):
    img = registry.images["busybox:latest"]
    pull(s, img.ref)
    cli(s, "tag", img.ref, "other/repo:v1")
    r = cli(s, "rmi", "other/repo:v1")
    assert r.stdout.splitlines() == ["Untagged: other/repo:v1"]
    doc = inspect(s, img.ref)
    assert doc["RepoTags"] == [img.ref]
    assert doc["RepoDigests"] == [img.canonical]


@pytest.mark.backends("memory", reason="sockerless lists no layer chain IDs; dockerd 20.10 does")
def test_rmi_last_tag_deletes(s, registry):
    img = registry.images["busybox:latest"]
    pull(s, img.ref)
    r = cli(s, "rmi", img.ref)
    assert r.stdout.splitlines()[0] == f"Untagged: {img.ref}"
    assert rmi_lines(r) == {f"Untagged: {img.ref}", f"Untagged: {img.canonical}",
                            f"Deleted: {img.config_digest}"}
    assert not image_ids(s)
    r = cli(s, "image", "inspect", img.canonical, ok=False)
    assert r.returncode == 1


def test_rmi_last_tag_matches_dockerd(s, d, registry):
    img = registry.images["multilayer:latest"]
    outs = {}
    for dm in (s, d):
        pull(dm, img.ref)
        cli(dm, "tag", img.ref, "other/ml:1")
        first = rmi_lines(cli(dm, "rmi", "other/ml:1"))
        second = cli(dm, "rmi", img.ref)
        # dockerd also reports its layer chain IDs as "Deleted:" lines (see module doc)
        second = {l for l in rmi_lines(second)
                  if l.startswith("Untagged:") or l == f"Deleted: {img.config_digest}"}
        outs[dm.name] = (first, second)
    assert outs["sockerlessd"] == outs["dockerd"]


def test_rmi_last_tag_of_repository_drops_its_digest_matches_dockerd(s, d, registry):
    """busybox and busybox-oci are one image. Untagging busybox-oci:latest leaves no tag
    in that repository, so dockerd also removes busybox-oci@sha256:... (and says so)."""
    img, oci = registry.images["busybox:latest"], registry.images["busybox-oci:latest"]
    res = {}
    for dm in (s, d):
        pull(dm, img.ref)
        pull(dm, oci.ref)
        r = cli(dm, "rmi", oci.ref)
        res[dm.name] = (rmi_lines(r), sorted(inspect(dm, img.ref)["RepoDigests"]))
    assert res["dockerd"] == ({f"Untagged: {oci.ref}", f"Untagged: {oci.canonical}"},
                              [img.canonical])
    assert res["sockerlessd"] == res["dockerd"]


def test_rmi_by_id_conflict_matches_dockerd(s, d, registry):
    img = registry.images["busybox:latest"]
    res = {}
    for dm in (s, d):
        pull(dm, img.ref)
        cli(dm, "tag", img.ref, "other/repo:v1")
        r = cli(dm, "rmi", img.config_digest[7:19], ok=False)
        raw = api(dm, "DELETE", f"/images/{img.config_digest}")
        res[dm.name] = (r.returncode, err(r), raw.status, raw.json().get("message"))
        assert image_ids(dm) == {img.config_digest}
    assert res["sockerlessd"] == res["dockerd"]
    assert res["sockerlessd"][2] == 409
    assert res["sockerlessd"][1] == (
        f"Error response from daemon: conflict: unable to delete {img.config_digest[7:19]} "
        f"(must be forced) - image is referenced in multiple repositories")
    # -f removes it with every reference
    outs = {}
    for dm in (s, d):
        r = cli(dm, "rmi", "-f", img.config_digest[7:19])
        outs[dm.name] = {l for l in rmi_lines(r)
                         if l.startswith("Untagged:") or l == f"Deleted: {img.config_digest}"}
        assert not image_ids(dm)
    assert outs["sockerlessd"] == outs["dockerd"] == {
        f"Untagged: {img.ref}", "Untagged: other/repo:v1", f"Untagged: {img.canonical}",
        f"Deleted: {img.config_digest}"}


def test_rmi_by_id_two_tags_same_repository_matches_dockerd(s, d, registry):
    """dockerd refuses to delete by ID whenever more than one tag references the image,
    even when both tags are in the same repository (isSingleReference); same 409 text."""
    img = registry.images["busybox:latest"]
    res = {}
    for dm in (s, d):
        pull(dm, img.ref)
        cli(dm, "tag", img.ref, f"{registry.host}/busybox:v2")
        r = cli(dm, "rmi", img.config_digest[7:19], ok=False)
        res[dm.name] = (r.returncode, err(r), bool(image_ids(dm)))
    assert res["sockerlessd"] == res["dockerd"]


@pytest.mark.parametrize("name", ["nosuch", "{host}/nosuch:2", ZERO_DIGEST, "0000",
                                  "{host}/busybox@" + ZERO_DIGEST])
def test_rmi_missing_matches_dockerd(s, d, registry, name):
    name = name.format(host=registry.host)
    res = {}
    for dm in (s, d):
        r = cli(dm, "rmi", name, ok=False)
        raw = api(dm, "DELETE", f"/images/{q(name)}")
        res[dm.name] = (r.returncode, err(r), raw.status, raw.json().get("message"))
    assert res["sockerlessd"] == res["dockerd"]
    assert res["sockerlessd"][2] == 404


def test_rmi_by_digest_reference_matches_dockerd(s, d, registry):
    img = registry.images["busybox:latest"]
    res = {}
    for dm in (s, d):
        pull(dm, img.ref)
        r = cli(dm, "rmi", img.canonical)
        res[dm.name] = ({l for l in rmi_lines(r) if l.startswith("Untagged:")},
                        sorted(inspect(dm, img.ref)["RepoDigests"]))
    assert res["sockerlessd"] == res["dockerd"]


# ============================================================================ prune / GC


def test_prune_dangling_only(s, registry, test_images):
    repo, old, new = make_dangling(registry, test_images, [s])
    arm = registry.images["multiarch:latest"]
    pull(s, arm.ref, "--platform", "linux/arm64")
    r = cli(s, "image", "prune", "-f")
    lines = r.stdout.splitlines()
    assert lines[0] == "Deleted Images:", r.stdout
    assert [l for l in lines[1:] if l.strip() and not l.startswith("Total")] == [
        f"untagged: {old.canonical}", f"deleted: {old.config_digest}"]
    assert lines[-1].startswith("Total reclaimed space: ")
    assert image_ids(s) == {new.config_digest, arm.child("arm64").config_digest}
    # nothing dangling left: a second prune removes nothing
    r = cli(s, "image", "prune", "-f")
    assert r.stdout.strip() == "Total reclaimed space: 0B"


def test_prune_dangling_matches_dockerd(s, d, registry, test_images):
    """The dangling image shares its only layer with the tagged multilayer image, so no
    layer is freed: dockerd reports SpaceReclaimed 0."""
    make_dangling(registry, test_images, [s, d])
    res = {dm.name: api(dm, "POST", "/images/prune").json() for dm in (s, d)}
    assert res["sockerlessd"] == res["dockerd"]


def test_prune_all_matches_dockerd(s, d, registry):
    """busybox and multilayer share their base layer: SpaceReclaimed counts it once."""
    res = {}
    ids = {registry.images[k].config_digest for k in ("busybox:latest", "multilayer:latest")}
    for dm in (s, d):
        for k in ("busybox:latest", "multilayer:latest"):
            pull(dm, registry.images[k].ref)
        body = api(dm, "POST", "/images/prune?filters=" +
                   urllib.parse.quote(json.dumps({"dangling": ["false"]}))).json()
        # dockerd adds one {"Deleted": <layer chain id>} per freed layer (see module doc)
        entries = sorted(json.dumps(e, sort_keys=True) for e in body["ImagesDeleted"]
                         if "Untagged" in e or e.get("Deleted") in ids)
        res[dm.name] = (entries, body["SpaceReclaimed"])
        assert not image_ids(dm)
    assert res["sockerlessd"][0] == res["dockerd"][0]
    assert res["sockerlessd"][1] == res["dockerd"][1]


@pytest.mark.backends("memory", reason="looks into sockerless's own image store")
def test_prune_all_cli_empties_store(s, registry):
    for k in ("busybox:latest", "multilayer:latest"):
        pull(s, registry.images[k].ref)
    pull(s, registry.images["multiarch:latest"].ref, "--platform", "linux/arm64")
    assert files_under(blob_dir(s))
    r = cli(s, "image", "prune", "-a", "-f")
    assert r.stdout.startswith("Deleted Images:\n"), r.stdout
    assert "Total reclaimed space:" in r.stdout
    assert cli(s, "images", "-a", "-q").stdout == ""
    assert files_under(blob_dir(s)) == []
    assert files_under(Path(s.data_root) / "image" / "ingest") == []


@pytest.mark.backends("memory", reason="looks into sockerless's own image store")
def test_rmi_everything_garbage_collects_blobs(s, registry):
    bb, ml = registry.images["busybox:latest"], registry.images["multilayer:latest"]
    arm = registry.images["multiarch:latest"]
    pull(s, bb.ref)
    pull(s, ml.ref)
    pull(s, arm.ref, "--platform", "linux/arm64")
    blobs = set(files_under(blob_dir(s)))
    # shared base layer stored once; manifests, configs and layers are all blobs
    assert bb.layers[0][7:] in blobs and ml.layers[0] == bb.layers[0]
    for dgst in (bb.digest, bb.config_digest, ml.digest, ml.config_digest, *ml.layers):
        assert dgst[7:] in blobs, dgst
    cli(s, "rmi", bb.ref)
    left = set(files_under(blob_dir(s)))
    assert bb.config_digest[7:] not in left and bb.digest[7:] not in left
    assert bb.layers[0][7:] in left  # still used by multilayer and multiarch/arm64
    cli(s, "rmi", ml.ref)
    cli(s, "rmi", arm.ref)
    assert not image_ids(s)
    assert files_under(blob_dir(s)) == []
    assert files_under(Path(s.data_root) / "image" / "ingest") == []


# ============================================================================ corrupted blob


def corrupt_registry(registry_factory):
    """A registry serving multilayer as corrupt:latest whose last layer's bytes no longer
    hash to its digest. Returns (PushedImage, layer digest, digest of the bad content)."""
    reg = registry_factory(plan=[("multilayer", "corrupt", "latest", "v2s2")])
    img = reg.images["corrupt:latest"]
    layer = img.layers[-1]
    data = (reg.workdir / "storage/docker/registry/v2/blobs/sha256" / layer[7:9] / layer[7:]
            / "data")
    content = bytearray(data.read_bytes())
    content[len(content) // 2] ^= 0xFF
    data.write_bytes(bytes(content))
    return img, layer, "sha256:" + hashlib.sha256(content).hexdigest()


def test_corrupted_blob(sockerlessd_factory, registry_factory, dockerd):
    img, layer, bad = corrupt_registry(registry_factory)
    s = sockerlessd_factory.start()
    msgs = {}
    try:
        for dm in (s, dockerd):
            wipe(dm)
            r = pull(dm, img.ref, ok=False)
            assert r.returncode != 0
            msgs[dm.name] = err(r)
            assert img.config_digest not in image_ids(dm)
            assert cli(dm, "images", "-q").stdout == ""
    finally:
        wipe(dockerd)
    assert msgs["sockerlessd"] == f"filesystem layer verification failed for digest {layer}"
    assert msgs["sockerlessd"] == msgs["dockerd"]

    blobs = files_under(blob_dir(s))
    assert bad[7:] not in blobs and layer[7:] not in blobs, blobs
    assert files_under(Path(s.data_root) / "image" / "ingest") == []


def test_failed_pull_leaves_no_unreferenced_blobs(sockerlessd_factory, registry_factory):
    """What the failed pull did fetch and verify (manifest, config, the good layers) is
    referenced by no image. dockerd keeps nothing of a failed pull (its layer store drops
    unreferenced layers at once); here they must at least go once the user asks for a
    prune."""
    img, layer, bad = corrupt_registry(registry_factory)
    s = sockerlessd_factory.start()
    assert pull(s, img.ref, ok=False).returncode != 0
    cli(s, "image", "prune", "-a", "-f")
    assert files_under(blob_dir(s)) == []
    assert files_under(Path(s.data_root) / "image" / "ingest") == []


# ============================================================================ SDK


def test_sdk_pull_list_get_tag_history_remove(s, registry):
    import docker

    c = s.client()
    bb = registry.images["busybox:latest"]
    image = c.images.pull(f"{registry.host}/busybox", tag="latest")
    assert image.id == bb.config_digest
    assert image.tags == [bb.ref]
    assert image.attrs["RepoDigests"] == [bb.canonical]
    assert image.labels == {}

    by_digest = c.images.pull(bb.canonical)
    assert by_digest.id == bb.config_digest

    arm = registry.images["multiarch:latest"]
    a = c.images.pull(arm.ref, platform="linux/arm64")
    assert a.id == arm.child("arm64").config_digest
    assert a.attrs["Architecture"] == "arm64"

    ml = c.images.pull(registry.images["multilayer:latest"].ref)
    assert ml.labels["com.example.fixture"] == "multilayer"

    assert {i.id for i in c.images.list()} == {bb.config_digest, a.id, ml.id}
    assert [i.id for i in c.images.list(name=f"{registry.host}/multilayer")] == [ml.id]
    assert [i.id for i in c.images.list(filters={"label": "com.example.fixture=multilayer"})] \
        == [ml.id]
    assert {i.id for i in c.images.list(all=True)} == {bb.config_digest, a.id, ml.id}

    assert c.images.get(bb.ref).id == bb.config_digest
    assert c.images.get(bb.config_digest[7:19]).id == bb.config_digest
    with pytest.raises(docker.errors.ImageNotFound) as ei:
        c.images.get("nosuch")
    assert ei.value.status_code == 404

    assert image.tag("sdk/tagged", "v1") is True
    image.reload()
    assert sorted(image.tags) == sorted([bb.ref, "sdk/tagged:v1"])

    hist = image.history()
    assert len(hist) == len(bb.config["history"])
    assert hist[0]["Id"] == bb.config_digest
    assert all(h["Id"] == "<missing>" for h in hist[1:])
    assert hist[-1]["Size"] == image.attrs["Size"]

    with pytest.raises(docker.errors.APIError) as ei:
        c.images.remove(bb.config_digest)
    assert ei.value.status_code == 409
    c.images.remove("sdk/tagged:v1")
    assert c.images.get(bb.ref).tags == [bb.ref]
    c.images.remove(bb.ref)
    with pytest.raises(docker.errors.ImageNotFound):
        c.images.get(bb.config_digest)
    with pytest.raises(docker.errors.ImageNotFound):
        c.images.remove("nosuch")
    c.images.remove(ml.id, force=True)

    pruned = c.images.prune(filters={"dangling": False})
    assert {e.get("Deleted") for e in pruned["ImagesDeleted"]} >= {a.id}
    assert pruned["SpaceReclaimed"] > 0
    assert c.images.list() == []


def test_sdk_pull_errors(s, registry):
    import docker

    c = s.client()
    with pytest.raises(docker.errors.NotFound) as ei:
        c.images.pull(f"{registry.host}/busybox", tag="nope")
    assert "manifest unknown" in str(ei.value)
    port = free_tcp_port()
    with pytest.raises(docker.errors.APIError):
        c.images.pull(f"127.0.0.1:{port}/busybox", tag="latest")


def test_sdk_matches_dockerd(s, d, registry):
    res = {}
    ml = registry.images["multilayer:latest"]
    for dm in (s, d):
        c = dm.client(version="1.41")
        img = c.images.pull(ml.ref)
        attrs = dict(img.attrs)
        attrs.pop("GraphDriver")
        hist = img.history()
        # (images.list() inspects every entry; the name is given without its tag so that
        # the digest references match it too: reference filters have their own test)
        listed = c.api.images(name=f"{registry.host}/multilayer")
        res[dm.name] = (attrs, hist, listed)
    assert res["sockerlessd"][1] == res["dockerd"][1]  # history
    assert res["sockerlessd"][2] == res["dockerd"][2]  # list (with VirtualSize at 1.41)
    assert res["sockerlessd"][0] == res["dockerd"][0]  # inspect (with VirtualSize at 1.41)


# ============================================================================ events


def _image_events(dm, since: str, until: str) -> list[dict]:
    r = cli(dm, "events", "--since", since, "--until", until, "--filter", "type=image",
            "--format", "{{json .}}", timeout=20)
    return json_lines(r.stdout)


def _ts(ns: int) -> str:
    return f"{ns // 10**9}.{ns % 10**9:09d}"


def _event_scenario(dm, registry) -> list[dict]:
    img = registry.images["busybox:latest"]
    t0 = time.time_ns()
    pull(dm, img.ref)
    cli(dm, "tag", img.ref, "ev/tagged:1")
    cli(dm, "rmi", "ev/tagged:1")
    cli(dm, "rmi", img.ref)
    t1 = time.time_ns()
    return _image_events(dm, _ts(t0), _ts(t1))


def test_image_events(s, registry):
    img = registry.images["busybox:latest"]
    evs = _event_scenario(s, registry)
    actions = [e["Action"] for e in evs]
    for a in ("pull", "tag", "untag", "delete"):
        assert a in actions, evs
    assert actions[0] == "pull" and actions[-1] == "delete"
    pull_ev = evs[0]
    assert pull_ev["Type"] == "image"
    assert pull_ev["Actor"]["ID"] == img.ref
    assert pull_ev["Actor"]["Attributes"]["name"] == f"{registry.host}/busybox"
    tag_ev = next(e for e in evs if e["Action"] == "tag")
    assert tag_ev["Actor"]["ID"] == img.config_digest
    assert tag_ev["Actor"]["Attributes"]["name"] == "ev/tagged:1"
    assert evs[-1]["Actor"]["ID"] == img.config_digest
    for e in evs:
        assert e["scope"] == "local" and isinstance(e["timeNano"], int)


def test_image_events_match_dockerd(s, d, registry):
    res = {dm.name: [(e["Type"], e["Action"]) for e in _event_scenario(dm, registry)]
           for dm in (s, d)}
    assert res["dockerd"] == [("image", "pull"), ("image", "tag"), ("image", "untag"),
                              ("image", "untag"), ("image", "delete")]
    assert res["sockerlessd"] == res["dockerd"]


def test_image_event_actors_match_dockerd(s, d, registry):
    """dockerd's untag/delete events name the image ID (Attributes.name == Actor.ID)."""
    res = {dm.name: [(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"])
                     for e in _event_scenario(dm, registry)] for dm in (s, d)}
    assert res["sockerlessd"] == res["dockerd"]


# ====================================================================== non-ASCII names

# Debian's ca-certificates ships this one: an ordinary Debian-based image has it in a PAX
# "path" record.
CERT_NAME = "NetLock_Arany_=Class_Gold=_Főtanúsítvány.crt"


@pytest.fixture(scope="module")
def nonascii_image(registry, tmp_path_factory):
    """busybox plus a layer whose names (a file, a symbolic link to it, a hard link) and
    link target are not ASCII, pushed as nonascii:latest."""
    from fixtures import build_images as bi

    lo = bi.Layout(tmp_path_factory.mktemp("nonascii-layout"))
    layers = [lo.add_layer(bi.make_tar(bi.busybox_entries())),
              lo.add_layer(bi.make_tar([
                  bi.d("data"),
                  bi.f(f"data/{CERT_NAME}", "certificate\n"),
                  bi.Entry("data/lien-é", "symlink", link=CERT_NAME),
                  bi.Entry("data/dur-ü", "hardlink", link=f"data/{CERT_NAME}"),
              ]))]
    cfg, hist = bi.busybox_config()
    info = bi.write_image(lo, "nonascii", "latest", layers, cfg,
                          hist + [bi.history("ADD data /data")], bi.host_platform())
    lo.finish()
    return registry.push(info, "nonascii", "latest").ref


def raw_cli(d, *args, timeout=60):
    """The docker CLI with bytes out (names that are not UTF-8)."""
    import subprocess
    from harness import DOCKER_CLI, cli_env
    return subprocess.run([DOCKER_CLI, "-H", d.host, *args], capture_output=True,
                          timeout=timeout, env=cli_env(d.docker_config))


@pytest.mark.timeout(180)
@pytest.mark.parametrize("daemon", ["sockerlessd", "dockerd"])
def test_non_ascii_names_pull_cp_commit_and_save(request, daemon, nonascii_image, tmp_path):
    """Names are bytes: a layer with UTF-8 names in PAX records is pulled and unpacked;
    docker cp copies such files out, and copies in names that are not even UTF-8 (Latin-1);
    docker commit makes a layer of them that docker save carries and a container of the
    committed image sees. Each engine must give the same answers. (Names are listed with the
    shell's glob: busybox ls shows the bytes of non-ASCII names as '?'.)"""
    import io
    import tarfile

    d = request.getfixturevalue(daemon)
    c, committed = "nonascii-c", "nonascii-committed:1"
    try:
        pull(d, nonascii_image)
        cli(d, "run", "-d", "--name", c, nonascii_image, "sleep", "600")
        r = raw_cli(d, "exec", c, "sh", "-c", "cd /data && printf '%s\\n' * && cat dur-ü && "
                                              "readlink lien-é && stat -c %h dur-ü")
        assert r.returncode == 0, r.stderr
        assert r.stdout.decode() == (f"{CERT_NAME}\ndur-ü\nlien-é\ncertificate\n"
                                     f"{CERT_NAME}\n2\n")

        out = tmp_path / "out"
        cli(d, "cp", f"{c}:/data", str(out))
        assert sorted(os.listdir(out)) == sorted([CERT_NAME, "dur-ü", "lien-é"])
        assert (out / CERT_NAME).read_text() == "certificate\n"
        assert os.readlink(out / "lien-é") == CERT_NAME

        src = tmp_path / "in"
        src.mkdir()
        names = [b"Gr\xc3\xbc\xc3\x9fe.txt", b"caf\xe9.txt"]  # UTF-8, then Latin-1
        for n in names:
            with open(os.path.join(os.fsencode(src), n), "wb") as f:
                f.write(b"content of " + n + b"\n")
        r = raw_cli(d, "cp", f"{src}/.", f"{c}:/incoming")
        assert r.returncode == 0, r.stderr
        r = raw_cli(d, "exec", c, "sh", "-c", "cd /incoming && printf '%s\\n' *; cat *")
        assert r.stdout == b"".join(n + b"\n" for n in sorted(names)) + b"".join(
            b"content of " + n + b"\n" for n in sorted(names)), r

        cli(d, "commit", c, committed)
        saved = tmp_path / "saved.tar"
        cli(d, "save", "-o", str(saved), committed, timeout=60)
        with tarfile.open(saved) as tar:
            manifest = json.load(tar.extractfile("manifest.json"))
            top = tar.extractfile(manifest[0]["Layers"][-1]).read()
        with tarfile.open(fileobj=io.BytesIO(top)) as layer:
            got = sorted(os.fsencode(m.name) for m in layer if m.name.startswith("incoming/"))
        assert got == sorted(b"incoming/" + n for n in names)
        r = raw_cli(d, "run", "--rm", committed, "sh", "-c",
                    "cd /data && printf '%s\\n' *; cd /incoming && printf '%s\\n' *")
        assert r.returncode == 0, r.stderr
        assert r.stdout == (f"{CERT_NAME}\ndur-ü\nlien-é\n".encode()
                            + b"".join(n + b"\n" for n in sorted(names)))
    finally:
        d.docker("rm", "-f", c)
        d.docker("rmi", "-f", committed, nonascii_image)

"""Volumes beside dockerd with the docker CLI and the Python SDK: the local driver's
options (tmpfs and bind volumes mounted on first use, unmounted by the last user), the
first-use copy of an image's content into a new volume, --volumes-from, the --mount
syntax and its errors, volume events, `system df`, and data outliving its container.

Deliberate differences (README), left out of the comparisons where they occur:
  * Errors that name a path in the container's root filesystem ("source … is not
    directory", "cannot mount volume over existing file") name it as the container sees it;
    dockerd names its storage driver's host path.
  * The first-use copy travels as docker cp's tar does: hard links inside the image's
    directory arrive as separate copies (dockerd keeps them linked), so sizes are compared
    on content without hard links.
  * --volumes-from a container with a --mount tmpfs inherits the tmpfs; dockerd 20.10
    fails that create with "get: no such volume".
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

ENGINES = ("sockerlessd", "dockerd")
HEX64 = re.compile(r"^[0-9a-f]{64}$")

# Every scenario runs on both engines, dockerd's containers taking a second or so each.
pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="volume mounts need root"),
              pytest.mark.timeout(120)]


def volume_names(d) -> set[str]:
    return set(d.docker("volume", "ls", "-q").stdout.split())


@pytest.fixture(scope="module")
def images(pair, registry):
    """busybox and the multilayer image (VOLUME /data, whiteouts, owners) on both engines."""
    ml = f"{registry.host}/multilayer:latest"
    for name in ENGINES:
        r = pair[name].docker("pull", "-q", ml, timeout=60)
        assert r.returncode == 0, (name, r.stderr)
    yield {"busybox": pair["image"], "multilayer": ml}
    pair["dockerd"].docker("rmi", "-f", ml)


@pytest.fixture(autouse=True)
def cleanup(pair):
    """Containers, and the volumes a test made, go on both engines even when it fails."""
    before = {n: volume_names(pair[n]) for n in ENGINES}
    yield
    for n in ENGINES:
        d = pair[n]
        ids = d.docker("ps", "-aq").stdout.split()
        if ids:
            d.docker("rm", "-f", "-v", *ids, timeout=60)
        for v in volume_names(d) - before[n]:
            d.docker("volume", "rm", "-f", v)


@pytest.fixture
def host_dir():
    path = tempfile.mkdtemp(prefix="sockerless-vol-host-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def engine_dir(host_dir, d, content: str) -> str:
    """A directory of its own for engine `d` below host_dir, holding the file f."""
    path = os.path.join(host_dir, d.name)
    os.mkdir(path)
    with open(os.path.join(path, "f"), "w") as f:
        f.write(content)
    return path


def both(pair, scenario):
    return {n: scenario(pair[n]) for n in ENGINES}


def same(results):
    s, d = results["sockerlessd"], results["dockerd"]
    assert s == d, f"sockerlessd: {s!r}\n    dockerd: {d!r}"
    return s


def daemon_error(r) -> str:
    """The daemon's message, without the CLI's retry-after-pull noise and usage hints."""
    for line in r.stderr.splitlines():
        if "Error response from daemon: " in line:
            return line.split("Error response from daemon: ", 1)[1].strip()
    return r.stderr.strip()


def out(r):
    return r.returncode, r.stdout, r.stderr


def inspect(d, *args):
    r = d.docker("inspect", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]


def mounts_of(d, ref):
    return inspect(d, ref)["Mounts"]


def volume_inspect(d, name):
    r = d.docker("volume", "inspect", name)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]


def norm_mounts(mounts, host_dir=None):
    """inspect's Mounts without what differs by nature: volume paths, anonymous names, order,
    and each engine's own directory below host_dir (see engine_dir)."""
    res = []
    for m in mounts:
        m = dict(m)
        if host_dir and m["Source"].startswith(host_dir + "/"):
            m["Source"] = "<host>"
        if m["Type"] == "volume":
            assert m["Source"].endswith(f"/volumes/{m['Name']}/_data"), m
            m["Source"] = "<volume>"
            if HEX64.match(m["Name"]):
                m["Name"] = "<anonymous>"
        res.append(m)
    return sorted(res, key=lambda m: m["Destination"])


def mounted(path: str) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


# --------------------------------------------------------------------- create, inspect


def test_create_inspect_and_driver_options(pair):
    def scenario(d):
        docs = {}
        for name, args in {"vol-plain": [], "vol-lab": ["--label", "team=a"],
                           "vol-tmpfs": ["-o", "type=tmpfs", "-o", "device=tmpfs",
                                         "-o", "o=size=10m"]}.items():
            r = d.docker("volume", "create", *args, name)
            assert r.returncode == 0, r.stderr
            doc = volume_inspect(d, name)
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc.pop("CreatedAt")), doc
            assert doc.pop("Mountpoint").endswith(f"/volumes/{name}/_data")
            docs[name] = doc
        # Idempotent: a second create with other options keeps the first.
        again = d.docker("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "vol-lab")
        docs["again"] = (out(again), volume_inspect(d, "vol-lab")["Options"])
        return docs

    res = same(both(pair, scenario))
    assert res["vol-tmpfs"]["Options"] == {"device": "tmpfs", "o": "size=10m", "type": "tmpfs"}
    # null when the CLI leaves the maps out (docker 23+), {} when it sends them empty (20.10):
    # dockerd keeps what it was given, and so do we (the comparison above is the judge).
    assert not res["vol-plain"]["Labels"] and not res["vol-plain"]["Options"]


def test_create_errors(pair):
    cases = [
        ["-o", "foo=bar", "vol-bad"],
        ["-o", "type=tmpfs", "vol-bad"],
        ["-o", "o=size=1m", "vol-bad"],
        ["-o", "device=/x", "vol-bad"],
        ["-o", "size=10m", "vol-bad"],
        ["-d", "nosuch", "vol-bad"],
        ["x"],
        ["bad name"],
    ]

    def scenario(d):
        res = []
        for args in cases:
            r = d.docker("volume", "create", *args)
            res.append((r.returncode, daemon_error(r)))
        res.append(sorted(v for v in volume_names(d) if v.startswith("vol-bad")))
        return res

    res = same(both(pair, scenario))
    assert res[0] == (1, 'create vol-bad: invalid option: "foo"')
    assert res[5][1] == 'create vol-bad: error looking up volume plugin nosuch: plugin "nosuch" not found'


# -------------------------------------------------------------------- first-use copy

LISTING = ("cd {dir} && find . | sort | while read f; do stat -c '%n %F %u:%g %a' \"$f\"; done")


def test_first_use_copy_of_the_image_content(pair, images):
    ml = images["multilayer"]

    def scenario(d):
        res = {}
        # A named volume at a directory with files, a symlink, owners, modes; whiteouts and
        # an opaque directory of lower layers stay hidden.
        for name, target in (("vol-app", "/app"), ("vol-opt", "/opt")):
            r = d.docker("run", "--rm", "--entrypoint", "sh", "-v", f"{name}:{target}", ml, "-c",
                         LISTING.format(dir=target))
            res[target] = out(r)
        res["version"] = out(d.docker("run", "--rm", "-v", "vol-app:/x", images["busybox"],
                                      "sh", "-c", "cat /x/version; readlink /x/current"))
        # Once it has content it is never filled again, whatever the image has there.
        res["again"] = out(d.docker("run", "--rm", "-v", "vol-app:/var", images["busybox"],
                                    "ls", "/var"))
        # The image's VOLUME /data: an anonymous volume with the directory's owner and mode.
        res["image-volume"] = out(d.docker("run", "--rm", "--entrypoint", "sh", ml, "-c",
                                           "stat -c '%u:%g %a' /data; cat /data/seed.txt"))
        # --mount without a source: anonymous too, and filled.
        res["mount-anonymous"] = out(d.docker("run", "--rm", "--entrypoint", "ls", "--mount",
                                              "type=volume,dst=/app", ml, "/app"))
        # A path the image doesn't have: an empty root-owned directory.
        res["nothing-there"] = out(d.docker("run", "--rm", "--entrypoint", "sh", "-v",
                                            "vol-new:/nonexistent/deep", ml, "-c",
                                            "stat -c '%u:%g %a' /nonexistent/deep; ls -A /nonexistent/deep"))
        return res

    res = same(both(pair, scenario))
    listing = res["/app"][1]
    assert "./owned-by-app regular file 1000:1000 640" in listing
    assert "./current symbolic link 0:0 777" in listing
    assert "olddir" not in listing
    assert "./opaque/new" in res["/opt"][1] and "./opaque/a" not in res["/opt"][1]
    assert res["version"][1] == "2\nversion\n"
    assert res["again"][1] == "current\nentrypoint-hardlink\nentrypoint.sh\nowned-by-app\nversion\nwww\n"
    assert res["image-volume"][1] == "1000:1000 755\nseed data for the /data volume\n"
    assert res["nothing-there"][1] == "0:0 755\n"


def test_copy_happens_at_create_not_for_nocopy_or_binds(pair, images, host_dir):
    ml, bb = images["multilayer"], images["busybox"]

    def scenario(d):
        res = {}
        # dockerd fills at create: the volume has the content before the container ever runs.
        assert d.docker("create", "-v", "vol-early:/app", ml).returncode == 0
        res["at-create"] = out(d.docker("run", "--rm", "-v", "vol-early:/x", bb, "ls", "/x"))
        res["nocopy"] = out(d.docker("run", "--rm", "--entrypoint", "ls", "-v",
                                     "vol-nc:/app:nocopy", ml, "-A", "/app"))
        res["volume-nocopy"] = out(d.docker("run", "--rm", "--entrypoint", "ls", "--mount",
                                            "type=volume,src=vol-nc2,dst=/app,volume-nocopy",
                                            ml, "-A", "/app"))
        res["nocopy-inspect"] = norm_mounts(mounts_of(d, d.docker(
            "create", "-v", "vol-nc:/app:nocopy", ml).stdout.strip()))
        sub = os.path.join(host_dir, d.name)
        os.mkdir(sub)
        res["bind"] = out(d.docker("run", "--rm", "--user", "0", "--entrypoint", "ls", "-v",
                                   f"{sub}:/app", ml, "-A", "/app"))
        res["bind-host"] = sorted(os.listdir(sub))
        return res

    res = same(both(pair, scenario))
    assert "version" in res["at-create"][1]
    assert res["nocopy"] == (0, "", "") and res["volume-nocopy"] == (0, "", "")
    assert res["nocopy-inspect"][0]["Mode"] == "nocopy"
    assert res["bind-host"] == []


def test_copy_errors_for_files(pair, images):
    ml = images["multilayer"]

    def scenario(d):
        res = {}
        r = d.docker("create", "--mount", "type=volume,dst=/etc/passwd", ml)
        res["volume-on-file"] = (r.returncode, daemon_error(r).startswith("source "),
                                 daemon_error(r).endswith("/etc/passwd is not directory"))
        # A symlink at the destination is followed inside the image.
        r = d.docker("create", "-v", "vol-sym:/app/current", ml)
        res["symlink"] = (r.returncode, daemon_error(r).endswith("/app/version is not directory"))
        r = d.docker("create", "-v", "/etc/passwd", ml)
        res["image-volume-on-file"] = (
            r.returncode,
            daemon_error(r).startswith("cannot mount volume over existing file, file exists "),
            daemon_error(r).endswith("/etc/passwd"))
        # Failed creates leave no container behind.
        res["containers"] = d.docker("ps", "-aq").stdout.split()
        return res

    res = same(both(pair, scenario))
    assert res["volume-on-file"] == (1, True, True)
    assert res["symlink"] == (1, True)
    assert res["image-volume-on-file"] == (1, True, True)


# ------------------------------------------------------------- local driver options


def test_tmpfs_volume_is_mounted_while_used(pair, images):
    bb = images["busybox"]

    def scenario(d):
        res = {}
        assert d.docker("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs",
                        "-o", "o=size=10m,uid=1000", "vol-tmp").returncode == 0
        mp = volume_inspect(d, "vol-tmp")["Mountpoint"]
        res["proc-mounts"] = out(d.docker("run", "--rm", "-v", "vol-tmp:/t", bb, "sh", "-c",
                                          "grep ' /t ' /proc/mounts; stat -c '%u' /t; echo hi > /t/x"))
        # Unmounted with its last user: what was written is gone.
        res["after"] = out(d.docker("run", "--rm", "-v", "vol-tmp:/t", bb, "ls", "-A", "/t"))
        res["mounted-after-exit"] = mounted(mp)
        cid = d.docker("run", "-d", "-v", "vol-tmp:/t", bb, "sleep", "30").stdout.strip()
        res["mounted-while-running"] = mounted(mp)
        res["shared"] = out(d.docker("run", "--rm", "-v", "vol-tmp:/u", bb, "sh", "-c",
                                     "echo shared > /u/s"))
        res["seen-by-runner"] = out(d.docker("exec", cid, "cat", "/t/s"))
        d.docker("rm", "-f", cid)
        res["mounted-after-rm"] = mounted(mp)
        # A fill at create goes into a tmpfs that is unmounted again: lost, as with dockerd.
        d.docker("create", "-v", "vol-tmp:/etc", bb)
        res["filled"] = out(d.docker("run", "--rm", "-v", "vol-tmp:/t", bb, "ls", "-A", "/t"))
        return res

    res = same(both(pair, scenario))
    assert res["proc-mounts"][1].startswith("tmpfs /t tmpfs rw,")
    assert "size=10240k" in res["proc-mounts"][1] and res["proc-mounts"][1].endswith("\n1000\n")
    assert res["after"] == (0, "", "") and res["filled"] == (0, "", "")
    assert (res["mounted-after-exit"], res["mounted-while-running"], res["mounted-after-rm"]) == (
        False, True, False)
    assert res["seen-by-runner"][1] == "shared\n"


def test_bind_volume_shows_the_device_and_rm_keeps_it(pair, images, host_dir):
    bb = images["busybox"]

    def scenario(d):
        res = {}
        device = engine_dir(host_dir, d, "host file\n")
        assert d.docker("volume", "create", "-o", "type=none", "-o", f"device={device}",
                        "-o", "o=bind", "vol-bind").returncode == 0
        res["read-write"] = out(d.docker("run", "--rm", "-v", "vol-bind:/b", bb, "sh", "-c",
                                         "cat /b/f; echo from-container > /b/g"))
        res["host"] = sorted(os.listdir(device))
        res["rm"] = out(d.docker("volume", "rm", "vol-bind"))
        res["host-after-rm"] = sorted(os.listdir(device))
        # A device that is not there: the start fails with the mount's error.
        assert d.docker("volume", "create", "-o", "type=none", "-o",
                        "device=/nonexistent-sockerless", "-o", "o=bind",
                        "vol-missing").returncode == 0
        mp = volume_inspect(d, "vol-missing")["Mountpoint"]
        r = d.docker("run", "--rm", "-v", "vol-missing:/b", bb, "true")
        res["missing"] = (r.returncode != 0, daemon_error(r).replace(mp, "<mountpoint>"))
        res["mounted"] = mounted(mp)
        return res

    res = same(both(pair, scenario))
    assert res["read-write"][1] == "host file\n"
    assert res["host"] == res["host-after-rm"] == ["f", "g"]
    assert res["missing"] == (True, "error while mounting volume '<mountpoint>': failed to mount "
                                    "local volume: mount /nonexistent-sockerless:<mountpoint>, "
                                    "flags: 0x1000: no such file or directory")


# --------------------------------------------------------------------- --volumes-from


def test_volumes_from(pair, images, host_dir):
    bb = images["busybox"]

    def scenario(d):
        res = {}
        src = engine_dir(host_dir, d, "bound\n")
        r = d.docker("create", "--name", "data", "-v", "vol-vf:/data", "-v", f"{src}:/h:ro",
                     "-v", "/anon", "-v", "vol-vf-ro:/n3:ro", "--mount",
                     f"type=bind,src={src},dst=/nr,bind-nonrecursive", bb, "true")
        assert r.returncode == 0, r.stderr
        res["data"] = norm_mounts(mounts_of(d, "data"), host_dir)
        d.docker("run", "--rm", "-v", "vol-vf:/data", bb, "sh", "-c", "echo kept > /data/k")
        res["rw"] = out(d.docker("run", "--rm", "--volumes-from", "data", bb, "sh", "-c",
                                 "cat /data/k /h/f; touch /data/w && echo wrote; "
                                 "touch /n3/w 2>&1 | grep -c Read-only"))
        res["ro"] = out(d.docker("run", "--rm", "--volumes-from", "data:ro", bb, "sh", "-c",
                                 "touch /data/x 2>&1 | grep -c Read-only"))
        r = d.docker("create", "--name", "vf", "--volumes-from", "data:ro", bb, "true")
        assert r.returncode == 0, r.stderr
        res["vf"] = norm_mounts(mounts_of(d, "vf"), host_dir)
        res["vf-hostconfig"] = inspect(d, "vf")["HostConfig"]["VolumesFrom"]
        # A bind or --mount at the same destination wins; a VOLUME there is skipped.
        r = d.docker("create", "--name", "vf2", "--volumes-from", "data", "-v",
                     "vol-vf2:/data", "--mount", "type=tmpfs,dst=/h", "-v", "/anon", bb, "true")
        assert r.returncode == 0, r.stderr
        res["vf2"] = norm_mounts(mounts_of(d, "vf2"), host_dir)
        # The volume is in use while any of them refers to it.
        res["rm-in-use"] = d.docker("volume", "rm", "vol-vf-ro").returncode != 0
        for spec in ("nosuch", "data:rshared", "data:nocopy", "data:bad", ""):
            r = d.docker("run", "--rm", "--volumes-from", spec, bb, "true")
            res[f"error {spec}"] = (r.returncode, daemon_error(r))
        return res

    res = same(both(pair, scenario))
    assert all(not m["RW"] for m in res["vf"]) and all(m["Mode"] == "" for m in res["vf"])
    assert res["rw"][1] == "kept\nbound\nwrote\n1\n"
    assert res["ro"][1] == "1\n"
    assert res["vf-hostconfig"] == ["data:ro"]
    assert res["error nosuch"] == (125, "No such container: nosuch")
    assert res["error data:bad"] == (125, "invalid mode: bad")
    assert res["error "] == (125, "volumes-from specification cannot be an empty string")


# ---------------------------------------------------------------------------- --mount


def test_mount_syntax_in_inspect(pair, images, host_dir):
    bb = images["busybox"]

    def scenario(d):
        r = d.docker("create", "--name", "mnt",
                     "--mount", f"type=bind,src={host_dir},dst=/b,readonly,bind-nonrecursive",
                     "--mount", "type=volume,src=vol-m1,dst=/q",
                     "--mount", "type=volume,src=vol-m2,dst=/r,readonly,volume-label=a=b,"
                                "volume-opt=type=tmpfs,volume-opt=device=tmpfs",
                     "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=0700",
                     "-v", "vol-m3:/s:ro", "-v", f"{host_dir}:/hb:ro", "-v", "/anon",
                     bb, "true")
        assert r.returncode == 0, r.stderr
        doc = volume_inspect(d, "vol-m2")
        return {"mounts": norm_mounts(mounts_of(d, "mnt")),
                "hostconfig-mounts": inspect(d, "mnt")["HostConfig"]["Mounts"],
                "vol-m2": (doc["Labels"], doc["Options"])}

    res = same(both(pair, scenario))
    by_dest = {m["Destination"]: m for m in res["mounts"]}
    assert by_dest["/q"]["Mode"] == "z" and by_dest["/s"]["Mode"] == "ro"
    assert by_dest["/anon"]["Mode"] == "" and by_dest["/t"]["RW"] is True
    assert by_dest["/hb"] == {"Type": "bind", "Source": host_dir, "Destination": "/hb",
                              "Mode": "ro", "RW": False, "Propagation": "rprivate"}
    assert res["vol-m2"] == ({"a": "b"}, {"device": "tmpfs", "type": "tmpfs"})


def test_mount_options_in_the_container(pair, images, host_dir):
    bb = images["busybox"]
    sub = os.path.join(host_dir, "sub")
    os.mkdir(sub)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", sub], check=True)
    try:
        with open(os.path.join(sub, "in-submount"), "w") as f:
            f.write("x\n")

        def scenario(d):
            return {
                "tmpfs": out(d.docker("run", "--rm", "--mount",
                                      "type=tmpfs,dst=/t,tmpfs-mode=0700,tmpfs-size=1m", bb,
                                      "sh", "-c", "stat -c %a /t; grep ' /t ' /proc/mounts")),
                "tmpfs-ro": out(d.docker("run", "--rm", "--mount", "type=tmpfs,dst=/t,readonly",
                                         bb, "sh", "-c", "grep ' /t ' /proc/mounts")),
                "recursive": out(d.docker("run", "--rm", "--mount",
                                          f"type=bind,src={host_dir},dst=/b", bb,
                                          "ls", "/b/sub")),
                "non-recursive": out(d.docker("run", "--rm", "--mount",
                                              f"type=bind,src={host_dir},dst=/b,bind-nonrecursive",
                                              bb, "ls", "-A", "/b/sub")),
                "readonly": out(d.docker("run", "--rm", "--mount",
                                         f"type=bind,src={host_dir},dst=/b,readonly", bb,
                                         "sh", "-c", "touch /b/x 2>&1 | grep -c Read-only")),
            }

        res = same(both(pair, scenario))
    finally:
        subprocess.run(["umount", "-l", sub], check=False)
    assert res["tmpfs"][1].startswith("700\ntmpfs /t tmpfs rw,nosuid,nodev,noexec,")
    assert "mode=700" in res["tmpfs"][1]
    assert res["tmpfs-ro"][1].startswith("tmpfs /t tmpfs ro,")
    assert res["recursive"][1] == "in-submount\n" and res["non-recursive"][1] == ""


@pytest.mark.timeout(180)
def test_mount_errors(pair, images, host_dir):
    bb = images["busybox"]
    cases = [
        ["--mount", "type=bind,src=/nonexistent-sockerless,dst=/b"],
        ["--mount", "type=bind,dst=/b"],
        ["--mount", "type=bind,src=rel,dst=/b"],
        ["--mount", f"type=bind,src={host_dir},dst=/"],
        ["--mount", f"type=bind,src={host_dir},dst=rel"],
        ["--mount", f"type=bind,src={host_dir},dst=/b,bind-propagation=bogus"],
        ["--mount", "type=tmpfs,src=x,dst=/t"],
        ["--mount", "type=volume,dst=/v,readonly"],
        ["--mount", "type=volume,src=bad!,dst=/v"],
        ["--mount", "type=volume,src=vol-e,dst=/v,volume-opt=foo=bar"],
        ["--mount", "type=bogus,dst=/b"],
        ["-v", "vol-e:/r:bogus"],
        ["-v", "vol-e:/r:rshared"],
        ["-v", f"{host_dir}:/r:nocopy"],
        ["-v", "vol-e:relative"],
        ["-v", "/r:ro"],
        ["-v", f"{host_dir}:/b", "--mount", f"type=bind,src={host_dir},dst=/b"],
        ["-v", f"{host_dir}:/b", "--tmpfs", "/b"],
    ]

    def scenario(d):
        res = []
        for args in cases:
            r = d.docker("run", "--rm", *args, bb, "true")
            res.append((args, r.returncode, daemon_error(r)))
        return res

    res = same(both(pair, scenario))
    assert res[0][2] == ('invalid mount config for type "bind": bind source path does not '
                         'exist: /nonexistent-sockerless')
    assert res[-1][2] == "Duplicate mount point: /b"


# ----------------------------------------------------------------- events, df, data


def test_volume_events(pair, images):
    bb = images["busybox"]

    def scenario(d):
        since = f"{time.time() - 1:.3f}"
        d.docker("run", "--rm", "-v", "vol-ev:/e:ro", bb, "true")
        d.docker("volume", "rm", "vol-ev")
        time.sleep(0.5)
        r = d.docker("events", "--since", since, "--until", f"{time.time():.3f}",
                     "--filter", "volume=vol-ev", "--format",
                     '{{.Type}} {{.Action}} {{index .Actor.Attributes "destination"}} '
                     '{{index .Actor.Attributes "read/write"}} '
                     '{{index .Actor.Attributes "driver"}}')
        return r.stdout.splitlines()

    lines = same(both(pair, scenario))
    assert [line.split()[1] for line in lines] == ["create", "mount", "unmount", "destroy"]
    assert lines[1] == "volume mount /e false local"


def test_system_df_counts_volumes(pair, images):
    bb = images["busybox"]

    def scenario(d):
        d.docker("run", "--rm", "-v", "vol-df:/d", bb, "sh", "-c",
                 "printf 12345 > /d/a; ln /d/a /d/b; ln -s a /d/c; mkdir /d/sub; "
                 "printf 123 > /d/sub/x; : > /d/empty")
        d.docker("volume", "create", "vol-df-unused")
        d.docker("create", "-v", "vol-df:/d", bb, "true")
        d.docker("create", "-v", "vol-df:/d", bb, "true")
        r = d.docker("system", "df", "-v", "--format", "{{json .Volumes}}")
        rows = {v["Name"]: (v["Links"], v["Size"]) for v in json.loads(r.stdout)
                if v["Name"].startswith("vol-df")}
        raw = json.loads(d.raw("GET", "/system/df?type=volume").body)
        usage = {v["Name"]: v["UsageData"] for v in raw["Volumes"] if v["Name"].startswith("vol-df")}
        return rows, usage

    rows, usage = same(both(pair, scenario))
    assert rows == {"vol-df": ("2", "9B"), "vol-df-unused": ("0", "0B")}
    assert usage["vol-df"] == {"RefCount": 2, "Size": 9}


def test_data_outlives_its_container(pair, images):
    bb = images["busybox"]

    def scenario(d):
        cid = d.docker("run", "-d", "-v", "vol-keep:/k", bb, "sh", "-c",
                       "echo persisted > /k/f").stdout.strip()
        d.docker("wait", cid)
        d.docker("rm", "-v", cid)  # -v takes anonymous volumes only
        return [out(d.docker("run", "--rm", "-v", "vol-keep:/k", bb, "cat", "/k/f")),
                "vol-keep" in volume_names(d)]

    assert same(both(pair, scenario)) == [(0, "persisted\n", ""), True]


# ------------------------------------------------------------------------------- SDK


def test_sdk_volumes_collection(pair, images):
    import docker
    from docker.types import DriverConfig, Mount

    bb = images["busybox"]

    def scenario(d):
        c = d.client()
        res = {}
        v = c.volumes.create(name="vol-sdk", driver="local", labels={"k": "v"},
                             driver_opts={"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
        res["attrs"] = {k: v.attrs[k] for k in ("Name", "Driver", "Labels", "Options", "Scope")}
        res["list"] = sorted(x.name for x in c.volumes.list(filters={"label": "k=v"}))
        res["get"] = c.volumes.get("vol-sdk").attrs["Options"]
        with pytest.raises(docker.errors.NotFound) as e:
            c.volumes.get("vol-sdk-missing")
        res["missing"] = e.value.explanation
        with pytest.raises(docker.errors.APIError) as e:
            c.volumes.create(name="vol-sdk-bad", driver_opts={"foo": "bar"})
        res["bad"] = (e.value.status_code, e.value.explanation)
        res["run"] = c.containers.run(bb, ["sh", "-c", "grep -c ' /t tmpfs ' /proc/mounts"],
                                      volumes={"vol-sdk": {"bind": "/t", "mode": "ro"}},
                                      remove=True)
        mount = Mount("/m", "vol-sdk2", type="volume", labels={"via": "mount"},
                      driver_config=DriverConfig("local", {"type": "tmpfs", "device": "tmpfs"}))
        res["mount"] = c.containers.run(bb, ["sh", "-c", "grep -c ' /m tmpfs ' /proc/mounts"],
                                        mounts=[mount], remove=True)
        res["vol-sdk2"] = {k: c.volumes.get("vol-sdk2").attrs[k] for k in ("Labels", "Options")}
        v.remove()
        res["after-remove"] = sorted(x.name for x in c.volumes.list(filters={"label": "k=v"}))
        ctr = c.containers.create(bb, "true", volumes=["/anon"])
        anonymous = ctr.attrs["Mounts"][0]["Name"]
        ctr.remove()
        res["pruned"] = anonymous in (c.volumes.prune()["VolumesDeleted"] or [])
        return res

    res = same(both(pair, scenario))
    assert res["attrs"]["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
    assert res["list"] == ["vol-sdk"] and res["after-remove"] == []
    assert res["bad"] == (400, 'create vol-sdk-bad: invalid option: "foo"')
    assert res["run"] == b"1\n" and res["mount"] == b"1\n"
    assert res["pruned"] is True

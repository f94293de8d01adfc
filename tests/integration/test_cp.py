"""docker cp and the archive API (HEAD, GET, PUT /containers/{id}/archive) against sockerless
and the reference dockerd, with the same docker CLI: what the user sees is compared (output,
exit status, error text), and so are the files that result on either side (names, content,
modes, owners, link targets, mtimes) and the decoded X-Docker-Container-Path-Stat header.

Known, deliberate differences, asserted on sockerless alone where they occur:
  * An uploaded archive that would write outside its destination (a ".." name, a hard
    link out of it, an entry beneath a symbolic link the same archive made, a relative
    symbolic link climbing out) is refused whole with 400 and nothing written; dockerd
    follows the archive's own links inside the container's root, and stops at the others
    with a 500 after writing the entries before them. Absolute names are written beneath
    the destination, by both.
  * A damaged archive: dockerd's status and message, but nothing written.
  * copyUIDGID (docker cp -a) with a container user: the user is looked up in the
    container's /etc/passwd and /etc/group; dockerd 20.10 looks it up on the host.
  * dockerd's init layer (/.dockerenv, /etc/mtab, /dev/console, ...) is not in the root
    filesystem sockerless copies from.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import stat
import subprocess
import tarfile
import time
import urllib.parse
from pathlib import Path

import pytest

from harness import DOCKER_CLI, cli_env, wait_until

ENGINES = ("sockerlessd", "dockerd")

# A tree under /data with every kind of entry docker cp has rules for, all stamped with one
# mtime so that both engines' copies can be compared to the second.
SETUP = r"""
set -e
mkdir -p /data/dir/sub /data/empty /data/parent /data/parent2
printf 'hello\n' > /data/dir/a.txt
printf 'deep\n' > /data/dir/sub/b.txt
printf 'x' > /data/dir/suid
printf 'file\n' > /data/file
chmod 640 /data/dir/a.txt
chmod 4755 /data/dir/suid
chmod 750 /data/dir/sub
chmod 1777 /data/empty
chown 1234:5678 /data/dir/sub/b.txt
ln /data/dir/a.txt /data/dir/hard
ln -s a.txt /data/dir/rel-link
ln -s rel-link /data/dir/chain
ln -s /data/dir /data/abs-dirlink
ln -s dir /data/rel-dirlink
ln -s /data/rel-dirlink/sub /data/linked-sub
ln -s /nowhere /data/dangling
ln -s ../../../../etc/passwd /data/up-link
find /data -depth -exec touch -h -d '2001-02-03 04:05:06' {} +
"""

FIXED_MTIME = 981173106  # 2001-02-03T04:05:06Z, as SETUP stamps


@pytest.fixture(autouse=True)
def no_leftovers(pair):
    yield
    for name in ENGINES:
        d = pair[name]
        ids = d.docker("ps", "-aq").stdout.split()
        if ids:
            d.docker("rm", "-f", *ids, timeout=60)
        vols = [v for v in d.docker("volume", "ls", "-q").stdout.split() if v.startswith("cp-")]
        if vols:
            d.docker("volume", "rm", "-f", *vols)


def both(pair, scenario):
    """Runs scenario(daemon, image) on each engine; returns {engine: result}."""
    return {name: scenario(pair[name], pair["image"]) for name in ENGINES}


def differences(s, d, where=""):
    """Where two results differ, as (place, sockerlessd's, dockerd's), deepest first."""
    if isinstance(s, dict) and isinstance(d, dict):
        for k in sorted(set(s) | set(d), key=str):
            yield from differences(s.get(k), d.get(k), f"{where}[{k!r}]")
    elif isinstance(s, (list, tuple)) and isinstance(d, (list, tuple)) and len(s) == len(d):
        for i, (a, b) in enumerate(zip(s, d)):
            yield from differences(a, b, f"{where}[{i}]")
    elif s != d:
        yield where, s, d


def same(results):
    s, d = results["sockerlessd"], results["dockerd"]
    if os.environ.get("CP_TEST_DUMP"):  # both results whole, for looking into a difference
        print("DUMP", json.dumps(results, default=str))
    if s != d:
        shown = [f"{w}\n  sockerlessd: {json.dumps(a, default=str)[:1500]}\n"
                 f"      dockerd: {json.dumps(b, default=str)[:1500]}"
                 for w, a, b in differences(s, d)]
        pytest.fail("sockerlessd and dockerd differ:\n" + "\n".join(shown), pytrace=False)
    return s


# ------------------------------------------------------------------------- helpers


def cli(d, *args, stdin: bytes | None = None, timeout=30):
    """The docker CLI with bytes in and out (the '-' forms of docker cp)."""
    return subprocess.run([DOCKER_CLI, "-H", d.host, *args], input=stdin, capture_output=True,
                          timeout=timeout, env=cli_env(d.docker_config))


# Where dockerd's messages name its own copy of the container's root.
DOCKERD_ROOT = re.compile(r"/\S*/vfs/dir/[0-9a-f]{64}")


def outcome(r, *host_dirs):
    """Exit status and the CLI's messages, the engine's own host directories masked and
    the CLI's log lines (racy: how far it got writing the tar before the daemon answered)
    left out."""
    err = r.stderr.decode() if isinstance(r.stderr, bytes) else r.stderr
    err = "\n".join(line for line in err.splitlines() if not line.startswith("time="))
    for i, h in enumerate(host_dirs):
        err = err.replace(str(h), f"<host{i}>")
    return r.returncode, DOCKERD_ROOT.sub("", err.strip())


def recent(mtime: float, since: float) -> str | int:
    """A time stamp the test did not set (one the copy itself made) compares as 'recent'."""
    return "recent" if mtime >= since - 5 else round(mtime, 6)


def host_tree(root: Path, since: float) -> list:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames) + ([] if Path(dirpath) != root else ["."]):
            p = Path(dirpath) / name
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            if stat.S_ISLNK(st.st_mode):
                what = "-> " + os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                what = p.read_bytes().decode("latin-1")
            else:
                what = ""
            out.append((rel, stat.filemode(st.st_mode), st.st_uid, st.st_gid, what,
                        recent(st.st_mtime, since), st.st_nlink if stat.S_ISREG(st.st_mode) else 0))
    return out


def raw_name(data: bytes, m: tarfile.TarInfo) -> str:
    """The entry's name as written (tarfile drops a directory's trailing slash)."""
    if "path" in m.pax_headers:
        return m.pax_headers["path"]
    block = data[m.offset:m.offset + 512]
    name = block[0:100].split(b"\0", 1)[0].decode()
    prefix = block[345:500].split(b"\0", 1)[0].decode()
    return f"{prefix}/{name}" if prefix else name


def tar_listing(data: bytes, since: float) -> list:
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for m in tar:
            content = tar.extractfile(m).read().decode("latin-1") if m.isreg() else ""
            kind = {tarfile.REGTYPE: "file", tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink",
                    tarfile.LNKTYPE: "hardlink", tarfile.FIFOTYPE: "fifo"}.get(m.type, str(m.type))
            out.append((raw_name(data, m), kind, oct(m.mode), m.uid, m.gid, m.uname, m.gname,
                        m.size, m.linkname, content, recent(m.mtime, since), m.pax_headers))
    return out


def stat_header(res) -> dict | None:
    h = res.headers.get("X-Docker-Container-Path-Stat")
    return json.loads(base64.b64decode(h)) if h else None


def archive_url(name: str, path: str, **query) -> str:
    q = {"path": path, **{k: str(v).lower() for k, v in query.items()}}
    return f"/containers/{name}/archive?" + urllib.parse.urlencode(q)


def put_archive(d, name: str, path: str, tar: bytes, **query):
    return d.raw("PUT", archive_url(name, path, **query), body=tar,
                 headers={"Content-Type": "application/x-tar"})


def message(res) -> str:
    try:
        text = res.json().get("message", "")
    except ValueError:
        text = res.text
    return DOCKERD_ROOT.sub("", text)


def make_tar(entries) -> bytes:
    """entries: (name, kind, extra) with kind file|dir|symlink|hardlink; extra is the content
    or link target; owners 0 and a fixed mtime unless given as further items."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, extra, *more in entries:
            info = tarfile.TarInfo(name)
            opts = more[0] if more else {}
            info.mtime = opts.get("mtime", FIXED_MTIME)
            info.mode = opts.get("mode", 0o755 if kind == "dir" else 0o644)
            info.uid, info.gid = opts.get("uid", 0), opts.get("gid", 0)
            data = None
            if kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, extra
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, extra
            else:
                data = extra.encode()
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def get_tree(d, name: str, path: str, since: float):
    """What `docker cp name:path -` writes, listed (or the failure)."""
    r = cli(d, "cp", f"{name}:{path}", "-")
    return tar_listing(r.stdout, since) if r.returncode == 0 else outcome(r)


def setup_container(d, img, name: str, state: str, *opts: str) -> None:
    """A container holding the /data tree of SETUP, left running or stopped."""
    if state == "running":
        r = d.docker("run", "-d", "--name", name, *opts, img, "sh", "-c",
                     SETUP + "touch /ready; exec sleep 600")
        assert r.returncode == 0, r.stderr
        wait_until(lambda: d.docker("exec", name, "test", "-e", "/ready").returncode == 0,
                   timeout=10, what="the setup script")
    else:
        r = d.docker("run", "--name", name, *opts, img, "sh", "-c", SETUP)
        assert r.returncode == 0, r.stderr


def make_host_source(root: Path) -> Path:
    """The host side of copies into containers: a file, a directory with a symlink, a hard
    link and owners other than root, names that clash with SETUP's tree."""
    src = root / "src"
    (src / "srcdir" / "inner").mkdir(parents=True)
    (src / "f.txt").write_text("host file\n")
    (src / "srcdir" / "x.txt").write_text("x\n")
    (src / "srcdir" / "inner" / "y.txt").write_text("y\n")
    os.symlink("x.txt", src / "srcdir" / "link")
    os.link(src / "srcdir" / "x.txt", src / "srcdir" / "hard")
    os.chmod(src / "f.txt", 0o600)
    os.chmod(src / "srcdir" / "inner", 0o700)
    os.chown(src / "srcdir" / "inner" / "y.txt", 4321, 8765)
    (src / "clash").mkdir()
    (src / "clash" / "sub").write_text("a file where the container has a directory\n")
    (src / "clash" / "a.txt").mkdir()
    os.symlink("/etc/hostname", src / "hostlink")
    for dirpath, dirnames, filenames in os.walk(src, topdown=False):
        for n in dirnames + filenames:
            os.utime(Path(dirpath) / n, (FIXED_MTIME + 7, FIXED_MTIME + 7), follow_symlinks=False)
    os.utime(src, (FIXED_MTIME + 7, FIXED_MTIME + 7))
    return src


# -------------------------------------------------------------- the stat header

STAT_PATHS = [
    "/data/dir/a.txt", "/data/dir", "/data/dir/", "/data/dir/.", "/data/dir/..", "data/dir/a.txt",
    "/data/dir/../dir/a.txt", "/data/dir/hard", "/data/dir/suid", "/data/dir/rel-link",
    "/data/dir/chain", "/data/abs-dirlink", "/data/abs-dirlink/", "/data/abs-dirlink/.",
    "/data/rel-dirlink/a.txt", "/data/rel-dirlink/sub/", "/data/dangling", "/data/up-link",
    "/data/linked-sub", "/data/linked-sub/b.txt", "/data/empty", "/etc/passwd", "/bin/sh",
    "/home/app", "/tmp", "/nope", "/data/nope/x", "/data/abs-dirlink/nope",
]


@pytest.mark.parametrize("state", ["stopped", "running"])
def test_stat_header_and_get(pair, state):
    """HEAD and GET of files, directories, symlinks (the link itself, with its target
    resolved in the container's root), trailing slashes and '/.', missing paths."""

    def scenario(d, img):
        since = time.time()
        setup_container(d, img, "cp-stat", state)
        out = {}
        for path in STAT_PATHS:
            head = d.raw("HEAD", archive_url("cp-stat", path))
            get = d.raw("GET", archive_url("cp-stat", path), timeout=30)
            out[path] = {
                "head": (head.status, stat_header(head)),
                "raw-header": head.headers.get("X-Docker-Container-Path-Stat"),
                "get": (get.status, stat_header(get),
                        tar_listing(get.body, since) if get.status == 200 else message(get)),
            }
        return out

    same(both(pair, scenario))


def test_stat_of_image_files_in_a_created_container(pair):
    def scenario(d, img):
        d.docker("create", "--name", "cp-created", img)
        out = {}
        for path in ["/", "/etc/passwd", "/etc/shadow", "/bin/sh", "/bin", "/home/app", "/tmp",
                     "/root", "/nope", "/etc/passwd/"]:
            head = d.raw("HEAD", archive_url("cp-created", path))
            st = stat_header(head)
            if path == "/":  # made when the container was: when, differs
                st["mtime"] = "recent"
            out[path] = (head.status, st)
        get = d.raw("GET", archive_url("cp-created", "/nope"))
        out["get-missing"] = (get.status, message(get))
        get = d.raw("GET", archive_url("no-such-container", "/"))
        out["no-container"] = (get.status, message(get))
        get = d.raw("GET", "/containers/cp-created/archive")
        out["no-path"] = (get.status, message(get))
        return out

    same(both(pair, scenario))


def test_fractional_mtime_in_the_stat_header(pair):
    def scenario(d, img):
        d.docker("create", "--name", "cp-mtime", img)
        tar = make_tar([("frac", "file", "x", {"mtime": FIXED_MTIME + 0.5}),
                        ("nanos", "file", "y", {"mtime": FIXED_MTIME + 0.123456789})])
        r = put_archive(d, "cp-mtime", "/tmp", tar)
        assert r.status == 200, r
        return {p: stat_header(d.raw("HEAD", archive_url("cp-mtime", p)))
                for p in ("/tmp/frac", "/tmp/nanos")}

    same(both(pair, scenario))


def test_long_and_unusual_names(pair):
    """PAX records where USTAR cannot say it (long and non-ASCII names and link targets),
    and the stat header's JSON as Go writes it (<, > and & escaped)."""
    long_dir = "d" * 60 + "/" + "e" * 60
    entries = [("odd", "dir", None), ("odd/" + "a" * 150, "file", "long"),
               ("odd/" + long_dir, "dir", None), ("odd/" + long_dir + "/f", "file", "split"),
               ("odd/dir-\u00fc", "dir", None), ("odd/dir-\u00fc/\u00e9.txt", "file", "utf-8"),
               ("odd/x<y>&z", "file", "html"), ("odd/sp ace", "file", "space"),
               ("odd/far", "symlink", "/" + "t" * 120), ("odd/owned", "file", "o", {"uid": 70000})]

    def scenario(d, img):
        since = time.time()
        r = d.docker("create", "--name", "cp-names", img)
        assert r.returncode == 0, r.stderr
        assert put_archive(d, "cp-names", "/", make_tar(entries)).status == 200
        out = {"tree": get_tree(d, "cp-names", "/odd", since)}
        for name, *_ in entries:
            head = d.raw("HEAD", archive_url("cp-names", "/" + name))
            out[name] = (head.status, head.headers.get("X-Docker-Container-Path-Stat"))
        return out

    same(both(pair, scenario))


def test_large_file_round_trip(pair, tmp_path):
    data = os.urandom(1 << 20) * 24

    def scenario(d, img):
        work = tmp_path / d.name
        work.mkdir()
        (work / "big").write_bytes(data)
        d.docker("create", "--name", "cp-big", img)
        t0 = time.monotonic()
        r_in = d.docker("cp", str(work / "big"), "cp-big:/tmp/big", timeout=120)
        r_out = d.docker("cp", "cp-big:/tmp/big", str(work / "back"), timeout=120)
        took = time.monotonic() - t0
        same_bytes = (work / "back").read_bytes() == data
        return outcome(r_in, work), outcome(r_out, work), same_bytes, took < 30

    assert same(both(pair, scenario))[2]


# ------------------------------------------------------------------- copying out

OUT_CASES = [
    ([], "/data/dir/a.txt", "new.txt"),
    ([], "/data/dir/a.txt", "existing-dir"),
    ([], "/data/dir/a.txt", "existing-dir/"),
    ([], "/data/dir/a.txt", "missing-dir/"),
    ([], "/data/dir/a.txt", "no-parent/x"),
    ([], "/data/dir/a.txt", "existing-file"),
    ([], "/data/dir", "newdir"),
    ([], "/data/dir", "existing-dir"),
    ([], "/data/dir/", "newdir"),
    ([], "/data/dir/.", "existing-dir"),
    ([], "/data/dir/.", "newdir"),
    ([], "/data/dir", "existing-file"),
    ([], "/data/dir/rel-link", "link"),
    (["-L"], "/data/dir/rel-link", "link"),
    (["-L"], "/data/dir/chain", "link"),
    ([], "/data/abs-dirlink", "adl"),
    ([], "/data/abs-dirlink/", "adl"),
    (["-L"], "/data/abs-dirlink", "adl"),
    ([], "/data/rel-dirlink/sub", "through-link"),
    ([], "/data/dangling", "dl"),
    (["-L"], "/data/dangling", "dl"),
    (["-L"], "/data/up-link", "up"),
    ([], "/nope", "x"),
    ([], "/data/dir/a.txt/", "x"),
    (["-a"], "/data/dir", "archive-mode"),
]


@pytest.mark.parametrize("state", ["stopped", "running"])
def test_copy_out(pair, tmp_path, state):
    def scenario(d, img):
        since = time.time()
        setup_container(d, img, "cp-out", state)
        work = tmp_path / d.name
        out = {}
        for i, (flags, src, dst) in enumerate(OUT_CASES):
            case = work / str(i)
            (case / "existing-dir").mkdir(parents=True)
            (case / "existing-file").write_text("old\n")
            r = d.docker("cp", *flags, f"cp-out:{src}", str(case / dst))
            out[f"{i}: cp {' '.join(flags)} c:{src} {dst}"] = (outcome(r, case), host_tree(case, since))
        return out

    same(both(pair, scenario))


@pytest.mark.parametrize("src", ["/data/dir", "/data/dir/", "/data/dir/.", "/data/dir/a.txt",
                                 "/data/abs-dirlink", "/data/abs-dirlink/", "/data/nope", "/data"])
def test_copy_out_to_stdout(pair, src):
    def scenario(d, img):
        since = time.time()
        setup_container(d, img, "cp-stdout", "stopped")
        return get_tree(d, "cp-stdout", src, since)

    same(both(pair, scenario))


# What dockerd's init layer puts in every container's root, where sockerless mounts its
# own at run time (and /etc/hosts, whose content follows the network, which differs).
INIT_LAYER = {".dockerenv", "dev/console", "dev/pts/", "dev/shm/", "etc/mtab", "etc/hosts"}
# Made per container: the short id in one, the mount point's mode in the root in both.
PER_CONTAINER = {"etc/hostname", "etc/resolv.conf"}


def without_init_layer(listing, prefix: str):
    out = []
    for entry in listing:
        name = entry[0][len(prefix):]
        if name in INIT_LAYER:
            continue
        if name == "dev/":  # the init layer touches it
            entry = (*entry[:10], "-", *entry[11:])
        if name in PER_CONTAINER:
            entry = (entry[0], entry[1], "-", *entry[3:7], "-", entry[8], "-", *entry[10:])
        out.append(entry)
    return out


@pytest.mark.parametrize("state", [
    "stopped",
    pytest.param("running", marks=pytest.mark.agentless(
        reason="the agent archives the running container's root as the container sees it, "
               "/proc, /sys and /dev mounted; the daemon's own view (and dockerd's) has the "
               "image's directories there, and an unprivileged agent cannot unmount them"))])
def test_copy_out_of_the_root(pair, state):
    """GET of "/" names its entries "/…"; docker export (the root filesystem alone,
    without volumes) names them relative to it."""

    def scenario(d, img):
        since = time.time()
        setup_container(d, img, "cp-root", state, "-v", "cp-root-vol:/data/vol")
        r = put_archive(d, "cp-root", "/data/vol", make_tar([("in-vol", "file", "v")]))
        assert r.status == 200, r
        get = without_init_layer(get_tree(d, "cp-root", "/", since), "/")
        r = cli(d, "export", "cp-root", timeout=60)
        exported = without_init_layer(tar_listing(r.stdout, since), "")
        return {"get": get, "export": exported}

    same(both(pair, scenario))


# -------------------------------------------------------------------- copying in

IN_CASES = [
    ([], "f.txt", "/data/newname"),
    ([], "f.txt", "/data/empty"),
    ([], "f.txt", "/data/parent/"),
    ([], "f.txt", "/data/nodir/"),
    ([], "f.txt", "/data/missing/parent/x"),
    ([], "srcdir", "/data/parent"),
    ([], "srcdir", "/data/newdir"),
    ([], "srcdir", "/data/empty/"),
    ([], "srcdir/.", "/data/parent2"),
    ([], "srcdir", "/data/file"),
    ([], "srcdir", "/data/file/"),
    ([], "f.txt", "/data/dir/a.txt"),
    ([], "f.txt", "/data/abs-dirlink"),
    ([], "f.txt", "/data/rel-dirlink/sub/"),
    ([], "f.txt", "/data/dangling"),
    ([], "f.txt", "/data/dir/rel-link"),
    ([], "hostlink", "/data/"),
    (["-L"], "hostlink", "/data/followed"),
    ([], "clash/sub", "/data/dir/"),
    ([], "clash/a.txt", "/data/dir/"),
    ([], "clash/.", "/data/dir"),
    (["-a"], "srcdir", "/data/archive-mode"),
    ([], "nothing-here", "/data/"),
]


@pytest.mark.parametrize("state", ["created", "stopped", "running"])
def test_copy_in(pair, tmp_path, state):
    def scenario(d, img):
        since = time.time()
        work = tmp_path / d.name
        src = make_host_source(work)
        if state == "created":
            d.docker("create", "--name", "cp-in", img, "sleep", "600")
            r = d.docker("cp", str(src / "srcdir"), "cp-in:/data")  # a tree to copy onto
            assert r.returncode == 0, r.stderr
            d.docker("cp", str(src / "srcdir"), "cp-in:/data/dir")
        else:
            setup_container(d, img, "cp-in", state)
        out = {}
        for i, (flags, s, dst) in enumerate(IN_CASES):
            r = d.docker("cp", *flags, str(src / s), f"cp-in:{dst}")
            out[f"{i}: cp {' '.join(flags)} {s} c:{dst}"] = outcome(r, src)
        out["tree"] = get_tree(d, "cp-in", "/data", since)
        out["/nowhere"] = get_tree(d, "cp-in", "/nowhere", since)
        return out

    same(both(pair, scenario))


def test_copy_in_from_stdin(pair):
    tar = make_tar([
        ("top", "dir", None, {"mode": 0o750, "uid": 1000, "gid": 1000}),
        ("top/f", "file", "content\n", {"mode": 0o4711, "uid": 12, "gid": 34}),
        ("top/hard", "hardlink", "top/f"),
        ("top/abs", "symlink", "/etc/passwd"),
        ("top/rel", "symlink", "f"),
        ("loose", "file", "no directory entry before me\n"),
        ("deep/er/file", "file", "parents made on the way\n"),
    ])

    def scenario(d, img):
        since = time.time()
        setup_container(d, img, "cp-stdin", "stopped")
        out = {
            "into-dir": outcome(cli(d, "cp", "-", "cp-stdin:/data/empty", stdin=tar)),
            "into-file": outcome(cli(d, "cp", "-", "cp-stdin:/data/file", stdin=tar)),
            "into-missing": outcome(cli(d, "cp", "-", "cp-stdin:/data/nope", stdin=tar)),
            "into-dirlink": outcome(cli(d, "cp", "-", "cp-stdin:/data/abs-dirlink", stdin=tar)),
            "not-a-tar": outcome(cli(d, "cp", "-", "cp-stdin:/data/parent", stdin=b"x" * 1024)),
        }
        out["tree"] = get_tree(d, "cp-stdin", "/data", since)
        return out

    same(both(pair, scenario))


def test_put_options(pair):
    """noOverwriteDirNonDir both ways, copyUIDGID with and without a container user, and
    the extraction point being a file, missing, or through a symlink."""
    file_over_dir = make_tar([("sub", "file", "f\n")])
    dir_over_file = make_tar([("a.txt", "dir", None)])
    owned = make_tar([("owned", "dir", None, {"uid": 4321, "gid": 8765}),
                      ("owned/f", "file", "o\n", {"uid": 4321, "gid": 8765})])

    def scenario(d, img):
        since = time.time()

        def put(name, path, body, **q):
            r = put_archive(d, name, path, body, **q)
            return r.status, message(r) if r.status != 200 else ""

        setup_container(d, img, "cp-put", "stopped")
        out = {
            "file-over-dir": put("cp-put", "/data/dir", file_over_dir, noOverwriteDirNonDir=True),
            "dir-over-file": put("cp-put", "/data/dir", dir_over_file, noOverwriteDirNonDir=True),
            "file-over-dir-allowed": put("cp-put", "/data/parent", file_over_dir),
            "uidgid": put("cp-put", "/data/empty", owned, copyUIDGID=True),
            "plain": put("cp-put", "/data/parent2", owned),
            "onto-file": put("cp-put", "/data/file", owned),
            "missing": put("cp-put", "/data/nope", owned),
            "through-link": put("cp-put", "/data/rel-dirlink/sub", owned),
            "through-file": put("cp-put", "/data/file/x", owned),
            "empty-body": put("cp-put", "/data", b""),
            "tree": get_tree(d, "cp-put", "/data", since),
        }
        d.docker("create", "--name", "cp-put-root", "--user", "root", img)
        out["user root"] = (put("cp-put-root", "/tmp", owned, copyUIDGID=True),
                            get_tree(d, "cp-put-root", "/tmp", since))
        return out

    same(both(pair, scenario))


@pytest.mark.backends("memory", reason="a documented difference from dockerd's partial extraction")
def test_archives_that_are_not_tars(pair):
    """The same status and message as dockerd; unlike dockerd, which has written what came
    before the damage, nothing is written (the upload is read whole first)."""
    whole = make_tar([("first", "file", "ok"), ("big", "file", "y" * 4000)])

    def scenario(d, img):
        d.docker("create", "--name", "cp-bad-tar", img)
        out = {}
        for name, body in (("not-a-tar", b"x" * 1024), ("truncated", whole[:3072]),
                           ("gzip-garbage", b"\x1f\x8b" + b"x" * 100)):
            r = put_archive(d, "cp-bad-tar", "/tmp", body)
            out[name] = (r.status, message(r))
        out["written"] = [e[0] for e in get_tree(d, "cp-bad-tar", "/tmp", time.time())]
        return out

    res = both(pair, scenario)
    assert res["sockerlessd"].pop("written") == ["tmp/"]
    assert res["dockerd"].pop("written") == ["tmp/", "tmp/big", "tmp/first"]
    same(res)


@pytest.mark.parametrize("user,owner", [("1000:1000", (1000, 1000)), ("app", (1000, 1000)),
                                        ("daemon:app", (1, 1000)), ("nobody:0", (65534, 0))])
@pytest.mark.backends("memory", reason="dockerd 20.10 needs getent in the image for copyUIDGID")
def test_copy_uid_gid_takes_the_container_user(sockerlessd, busybox, user, owner):
    """Deliberately unlike dockerd 20.10, which looks the user up on the host (getent), so
    that a user only the image knows fails there: "getent unable to find entry"."""
    name = "cp-uidgid-" + user.replace(":", "-")
    sockerlessd.docker("create", "--name", name, "--user", user, busybox)
    try:
        tar = make_tar([("owned", "file", "o\n", {"uid": 4321, "gid": 8765})])
        r = put_archive(sockerlessd, name, "/tmp", tar, copyUIDGID=True)
        assert r.status == 200, r
        listing = get_tree(sockerlessd, name, "/tmp/owned", time.time())
        assert (listing[0][3], listing[0][4]) == owner, listing
    finally:
        sockerlessd.docker("rm", "-f", name)


@pytest.mark.backends("memory", reason="dockerd 20.10 needs getent in the image for copyUIDGID")
def test_copy_uid_gid_with_an_unknown_user(sockerlessd, busybox):
    sockerlessd.docker("create", "--name", "cp-uidgid-unknown", "--user", "ghost", busybox)
    try:
        r = put_archive(sockerlessd, "cp-uidgid-unknown", "/tmp", make_tar([("f", "file", "x")]),
                        copyUIDGID=True)
        assert r.status == 400 and "ghost" in message(r), r
        assert get_tree(sockerlessd, "cp-uidgid-unknown", "/tmp/f", time.time())[0] == 1
    finally:
        sockerlessd.docker("rm", "-f", "cp-uidgid-unknown")


def test_events(pair, tmp_path):
    """GET logs archive-path and PUT extract-to-dir; HEAD logs nothing."""

    def scenario(d, img):
        d.docker("create", "--name", "cp-events", img)
        start = time.time()
        d.raw("HEAD", archive_url("cp-events", "/etc/passwd"))
        d.raw("GET", archive_url("cp-events", "/etc/passwd"))
        d.raw("GET", archive_url("cp-events", "/nope"))
        put_archive(d, "cp-events", "/tmp", make_tar([("f", "file", "x")]))
        put_archive(d, "cp-events", "/nope", make_tar([("f", "file", "x")]))
        time.sleep(0.5)
        r = d.docker("events", "--since", f"{start - 1:.3f}", "--until", f"{time.time():.3f}",
                     "--filter", "container=cp-events", "--format", "{{.Action}} {{.Actor.Attributes.name}}")
        return r.stdout.split("\n")

    same(both(pair, scenario))


# ------------------------------------------------------- volumes and bind mounts


@pytest.mark.parametrize("state", [
    "created", "stopped",
    pytest.param("running", marks=pytest.mark.agentless(
        reason="the agent archives what the container sees, its tmpfs mounts included; the "
               "daemon's own view (and dockerd's) leaves tmpfs out, and an unprivileged agent "
               "cannot unmount it"))])
def test_volumes_bind_mounts_and_read_only(pair, tmp_path, state):
    def scenario(d, img):
        since = time.time()
        work = tmp_path / d.name
        bind = work / "bind"
        bind.mkdir(parents=True)
        (bind / "from-host").write_text("host\n")
        src = make_host_source(work)
        d.docker("volume", "create", "cp-ro")
        out = {}
        for name, opts in (("cp-vol", []), ("cp-rofs", ["--read-only"])):
            opts = [*opts, "-v", f"{name}-data:/vol", "-v", f"{bind}:/data/bind",
                    "-v", "cp-ro:/ro:ro", "--tmpfs", "/scratch"]
            cmd = "mkdir -p /vol/made; echo made > /vol/made/f; touch /vol/ready; "
            if state == "created":
                d.docker("create", "--name", name, *opts, img, "sleep", "600")
            elif state == "running":
                d.docker("run", "-d", "--name", name, *opts, img, "sh", "-c", cmd + "exec sleep 600")
                wait_until(lambda: d.docker("exec", name, "test", "-e", "/vol/ready").returncode == 0,
                           timeout=10, what="the container")
                d.docker("exec", name, "sh", "-c", "echo tmp > /scratch/t")
            else:
                d.docker("run", "--name", name, *opts, img, "sh", "-c", cmd)
            res = {}
            for dst in ("/vol", "/vol/", "/data/bind", "/data/bind/new", "/ro", "/ro/x", "/",
                        "/tmp", "/scratch"):
                r = d.docker("cp", str(src / "f.txt"), f"{name}:{dst}")
                res[f"cp f.txt c:{dst}"] = outcome(r, src)
            r = d.docker("cp", str(src / "srcdir"), f"{name}:/vol")
            res["cp srcdir c:/vol"] = outcome(r, src)
            for dst in ("/ro", "/", "/vol"):
                r = put_archive(d, name, dst, make_tar([("raw", "file", "x")]))
                res[f"put {dst}"] = (r.status, message(r))
            for path in ("/vol", "/data/bind", "/ro", "/scratch"):
                res[f"get {path}"] = get_tree(d, name, path, since)
            res["stat /vol/f.txt"] = stat_header(d.raw("HEAD", archive_url(name, "/vol/f.txt")))
            out[name] = res
        out["bind"] = host_tree(bind, since)
        return out

    same(both(pair, scenario))


# ----------------------------------------------------- archives that would escape


ESCAPING = {
    "dotdot": [("first-entry", "file", "ok"), ("../../escaped-cp-test", "file", "escaped")],
    "nested-dotdot": [("first-entry", "file", "ok"), ("a/../../escaped-cp-test", "file", "x")],
    "symlinked-parent": [("first-entry", "file", "ok"), ("up", "symlink", "../../.."),
                         ("up/escaped-cp-test", "file", "escaped")],
    "absolute-symlinked-parent": [("first-entry", "file", "ok"), ("etc", "symlink", "/etc"),
                                  ("etc/escaped-cp-test", "file", "escaped")],
    "hardlink-out": [("first-entry", "file", "ok"), ("h", "hardlink", "../../etc/passwd")],
}


def test_absolute_names_land_beneath_the_destination(pair):
    """As dockerd (and GNU tar without -P): an uploaded archive's absolute names, and the
    absolute targets of its hard links, are taken below the destination; "/.." at the
    start stays there. What act sends for a job's actions (/var/run/act/...) is such an
    archive."""
    since = time.time()
    entries = [("/var/run/act/actions/a1", "dir", ""),
               ("/var/run/act/actions/a1/action.yml", "file", "name: a1\n"),
               ("/abs-file", "file", "abs\n"),
               ("/../dotdot-abs", "file", "dd\n"),
               ("/abs-hard", "hardlink", "/abs-file"),
               ("/abs-link", "symlink", "/etc/passwd")]

    def scenario(d, img):
        name = "cp-absolute-names"
        r = d.docker("run", "-d", "--name", name, img, "sh", "-c", "mkdir /dest; exec sleep 600")
        assert r.returncode == 0, r.stderr
        wait_until(lambda: d.docker("exec", name, "test", "-d", "/dest").returncode == 0,
                   timeout=10, what="/dest")
        r = put_archive(d, name, "/dest", make_tar(entries))
        return {"put": (r.status, message(r)), "tree": get_tree(d, name, "/dest", since),
                "root": d.docker("exec", name, "ls", "/var/run").stdout}

    same(both(pair, scenario))


@pytest.mark.timeout(300)
def test_archives_beyond_64_mib_are_taken(target, tmp_path):
    """Streamed bodies have no size limit: docker cp of a 66 MiB file (the CLI sends the
    archive chunked) and a PUT of a 66 MiB archive with its Content-Length."""
    d, img = target
    name = "cp-big-archive"
    r = d.docker("run", "-d", "--name", name, img, "sleep", "600")
    assert r.returncode == 0, r.stderr
    size = 66 << 20
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:  # sparse: cheap to make, read as zeros
        f.truncate(size)
    r = cli(d, "cp", str(big), f"{name}:/tmp/big.bin", timeout=240)
    assert r.returncode == 0, r.stderr
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        with open(big, "rb") as f:
            tar.addfile(tar.gettarinfo(str(big), arcname="big2.bin"), f)
    body = buf.getvalue()
    assert len(body) > 64 << 20
    r = d.raw("PUT", archive_url(name, "/tmp"), body=body,
              headers={"Content-Type": "application/x-tar"}, timeout=240)
    assert r.status == 200, r
    del body, buf
    sizes = d.docker("exec", name, "stat", "-c", "%n %s", "/tmp/big.bin", "/tmp/big2.bin")
    assert sizes.stdout.split("\n")[:2] == [f"/tmp/big.bin {size}", f"/tmp/big2.bin {size}"]


@pytest.mark.backends("memory", reason="a documented difference: sockerless refuses escaping archives whole with 400")
@pytest.mark.parametrize("state", ["created", "running"])
@pytest.mark.parametrize("kind", sorted(ESCAPING))
def test_archives_that_escape_are_refused_whole(sockerlessd, busybox, state, kind):
    """Deliberately stricter than dockerd (see the module's docstring)."""
    name = f"cp-escape-{kind}-{state}"
    if state == "created":
        sockerlessd.docker("create", "--name", name, busybox, "sleep", "600")
    else:
        sockerlessd.docker("run", "-d", "--name", name, busybox, "sleep", "600")
    try:
        r = put_archive(sockerlessd, name, "/tmp", make_tar(ESCAPING[kind]))
        assert r.status == 400, r
        assert not os.path.exists("/escaped-cp-test")
        listing = get_tree(sockerlessd, name, "/tmp", time.time())
        assert [e[0] for e in listing] == ["tmp/"], listing
        for p in ("/escaped-cp-test", "/etc/escaped-cp-test", "/etc/passwd"):
            head = sockerlessd.raw("HEAD", archive_url(name, p))
            assert head.status == (200 if p == "/etc/passwd" else 404), (p, head)
    finally:
        sockerlessd.docker("rm", "-f", name)

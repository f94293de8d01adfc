"""docker build with the classic builder (DOCKER_BUILDKIT=0), sockerlessd against dockerd.

The same contexts are built on both daemons with the docker CLI and the Python SDK; the
user-visible output is compared with image/container IDs masked, and the images are run
to check what the Dockerfile set up. Every image and container a test makes in the shared
dockerd is removed again.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

BUILD_ENV = {"DOCKER_BUILDKIT": "0"}
HEX12 = re.compile(r"\b[0-9a-f]{12}\b")


def ids(d, kind: str) -> set[str]:
    args = ["images", "-a", "-q", "--no-trunc"] if kind == "image" else ["ps", "-a", "-q", "--no-trunc"]
    r = d.docker(*args)
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


@pytest.fixture
def clean(request):
    """Removes whatever images/containers the test leaves in the daemons it touched."""
    seen = {}

    def track(d):
        if id(d) not in seen:
            seen[id(d)] = (d, ids(d, "image"), ids(d, "container"))
        return d

    yield track
    for d, images, containers in seen.values():
        for c in ids(d, "container") - containers:
            d.docker("rm", "-f", c)
        for _ in range(5):  # children before parents
            left = ids(d, "image") - images
            if not left:
                break
            for i in left:
                d.docker("rmi", "-f", i)


def build(d, ctx: Path, *args: str, ok: bool = True):
    r = d.docker("build", *args, str(ctx), env=BUILD_ENV, timeout=120)
    if ok:
        assert r.returncode == 0, f"{d}: {r.stdout}\n{r.stderr}"
    return r


def masked(text: str) -> list[str]:
    return [HEX12.sub("<id>", line) for line in text.splitlines()]


def write_context(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    return root


def multistage(registry, root: Path) -> Path:
    base = registry.ref("busybox:latest")
    return write_context(root, {
        "Dockerfile": f"""ARG BASE={base}
FROM $BASE AS builder
ARG GREETING=hello
RUN mkdir -p /out && echo "$GREETING from builder" > /out/greeting.txt
FROM $BASE
ENV APP_HOME=/app
WORKDIR $APP_HOME
COPY --from=builder /out/greeting.txt ./
COPY files/ ./files/
COPY hello.sh /usr/local/bin/
LABEL org.example.kind=test
USER 1234
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/greeting.txt; id -u; pwd; echo $APP_HOME; ls /app/files; cat /usr/local/bin/hello.sh"]
""",
        "files/a.txt": "a\n",
        "files/sub/b.txt": "b\n",
        "hello.sh": "echo hello\n",
    })


@pytest.fixture
def pulled(registry, sockerlessd, dockerd, clean):
    """The base image pulled in both daemons, so build output carries no pull progress."""
    for d in (sockerlessd, dockerd):
        clean(d)
        r = d.docker("pull", registry.ref("busybox:latest"))
        assert r.returncode == 0, r.stderr
    return registry


@pytest.mark.timeout(300)
def test_multistage_build_run_and_cache_match_dockerd(pulled, sockerlessd, dockerd, tmp_path):
    ctx = multistage(pulled, tmp_path / "ctx")
    outputs, cached, runs = {}, {}, {}
    for d in (sockerlessd, dockerd):
        first = build(d, ctx, "--build-arg", "GREETING=hi", "-t", "sockerless-build-test:multi")
        outputs[d.name] = masked(first.stdout)
        image_id = d.docker("inspect", "-f", "{{.Id}}", "sockerless-build-test:multi").stdout.strip()
        second = build(d, ctx, "--build-arg", "GREETING=hi", "-t", "sockerless-build-test:multi")
        cached[d.name] = masked(second.stdout)
        assert d.docker("inspect", "-f", "{{.Id}}",
                        "sockerless-build-test:multi").stdout.strip() == image_id
        r = d.docker("run", "--rm", "sockerless-build-test:multi")
        assert r.returncode == 0, r.stderr
        runs[d.name] = r.stdout
        cfg = json.loads(d.docker("inspect", "sockerless-build-test:multi").stdout)[0]["Config"]
        assert cfg["User"] == "1234" and cfg["WorkingDir"] == "/app"
        assert cfg["Labels"] == {"org.example.kind": "test"}
        assert "APP_HOME=/app" in cfg["Env"]
    assert runs["sockerlessd"] == "hi from builder\n1234\n/app\n/app\na.txt\nsub\necho hello\n"
    assert runs["sockerlessd"] == runs["dockerd"]
    assert outputs["sockerlessd"] == outputs["dockerd"]
    assert cached["sockerlessd"] == cached["dockerd"]
    assert cached["sockerlessd"].count(" ---> Using cache") == 11
    assert "Successfully tagged sockerless-build-test:multi" in cached["sockerlessd"]


@pytest.mark.timeout(240)
def test_dockerignore_quiet_tags_and_target(pulled, sockerlessd, dockerd, tmp_path):
    ctx = write_context(tmp_path / "ctx", {
        "Dockerfile": f"FROM {pulled.ref('busybox:latest')} AS first\nCOPY . /ctx/\n"
                      "FROM first\nRUN touch /second\n",
        ".dockerignore": "secret.txt\n*.log\n",
        "keep.txt": "keep\n",
        "secret.txt": "secret\n",
        "debug.log": "log\n",
    })
    listings = {}
    for d in (sockerlessd, dockerd):
        q = build(d, ctx, "-q", "--target", "first", "-t", "sockerless-build-test:a",
                  "-t", "sockerless-build-test:b")
        assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", q.stdout), q.stdout
        image_id = q.stdout.strip()
        for tag in ("a", "b"):
            got = d.docker("inspect", "-f", "{{.Id}}", f"sockerless-build-test:{tag}").stdout.strip()
            assert got == image_id
        r = d.docker("run", "--rm", "sockerless-build-test:a", "sh", "-c",
                     "ls -A /ctx; test -e /second || echo target-stopped")
        assert r.returncode == 0, r.stderr
        listings[d.name] = r.stdout
    assert listings["sockerlessd"] == ".dockerignore\nDockerfile\nkeep.txt\ntarget-stopped\n"
    assert listings["sockerlessd"] == listings["dockerd"]


@pytest.mark.backends("memory", reason="sockerless's builder applies .dockerignore to raw contexts; dockerd's classic builder leaves that to the client")
def test_daemon_applies_dockerignore_to_raw_contexts(pulled, sockerlessd):
    """A client that sends everything still gets .dockerignore applied by sockerless."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in {
            "Dockerfile": f"FROM {pulled.ref('busybox:latest')}\nCOPY . /ctx/\n",
            ".dockerignore": "secret.txt\n",
            "secret.txt": "secret\n",
            "keep.txt": "keep\n",
        }.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data.encode()))
    r = sockerlessd.raw("POST", "/build?t=sockerless-build-test:raw&q=1", buf.getvalue(),
                        {"Content-Type": "application/x-tar"}, timeout=60)
    assert r.status == 200, r.text
    messages = [json.loads(line) for line in r.text.splitlines() if line.strip()]
    assert not any("error" in m for m in messages), messages
    out = sockerlessd.docker("run", "--rm", "sockerless-build-test:raw", "ls", "-A", "/ctx")
    assert out.stdout == ".dockerignore\nDockerfile\nkeep.txt\n"
    sockerlessd.docker("rmi", "sockerless-build-test:raw")


@pytest.mark.timeout(120)
def test_failing_run_reports_exit_code(pulled, sockerlessd, dockerd, tmp_path):
    ctx = write_context(tmp_path / "ctx", {
        "Dockerfile": f"FROM {pulled.ref('busybox:latest')}\nRUN echo before\nRUN exit 3\n",
    })
    for d in (sockerlessd, dockerd):
        r = build(d, ctx, "--force-rm", ok=False)
        assert r.returncode != 0
        assert "The command '/bin/sh -c exit 3' returned a non-zero code: 3" in r.stderr, r.stderr
        assert "before" in r.stdout


@pytest.mark.backends("memory", reason="sockerless refuses BuildKit sessions; dockerd serves them")
def test_buildkit_session_is_refused(sockerlessd):
    r = sockerlessd.raw("POST", "/build?version=2", b"", {"Content-Type": "application/x-tar"})
    assert r.status == 400
    assert "DOCKER_BUILDKIT=0" in r.json()["message"]


@pytest.mark.timeout(240)
def test_sdk_build_with_buildargs(pulled, sockerlessd, dockerd, tmp_path, clean):
    ctx = write_context(tmp_path / "ctx", {
        "Dockerfile": f"FROM {pulled.ref('busybox:latest')}\nARG WHO=nobody\n"
                      "RUN echo \"built by $WHO\" > /who\nCMD [\"cat\", \"/who\"]\n",
    })
    for d in (sockerlessd, dockerd):
        clean(d)
        client = d.client(timeout=120)
        image, logs = client.images.build(path=str(ctx), buildargs={"WHO": "sdk"},
                                          tag="sockerless-build-test:sdk", rm=True)
        streams = "".join(chunk.get("stream", "") for chunk in logs)
        assert "Step 3/4 : RUN echo \"built by $WHO\" > /who" in streams
        assert image.id.startswith("sha256:")
        out = client.containers.run("sockerless-build-test:sdk", remove=True)
        assert out == b"built by sdk\n"
        with pytest.raises(Exception) as err:
            client.images.build(path=str(ctx), dockerfile="Nope")
        assert "Nope" in str(err.value)


@pytest.fixture
def git_server(tmp_path, pulled):
    """A git repository (branch main, a build context in sub/) served by `git daemon` on
    127.0.0.1, for remote= builds."""
    import shutil
    import subprocess

    from harness import free_tcp_port

    if not shutil.which("git"):
        pytest.skip("git not installed")
    base = tmp_path / "git"
    work = base / "work"
    write_context(work, {
        "sub/Dockerfile": f"FROM {pulled.ref('busybox:latest')}\nCOPY msg /msg\nCMD [\"cat\", \"/msg\"]\n",
        "sub/msg": "from git\n",
        "Dockerfile": f"FROM {pulled.ref('busybox:latest')}\nCMD [\"echo\", \"top\"]\n",
    })
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com", "HOME": str(base)}
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "ctx"]):
        subprocess.run(["git", *args], cwd=work, env=env, check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(base / "repo.git")],
                   env=env, check=True)
    port = free_tcp_port()
    daemon = subprocess.Popen(["git", "daemon", "--export-all", "--reuseaddr",
                               f"--base-path={base}", "--listen=127.0.0.1", f"--port={port}",
                               str(base)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        from harness import wait_until
        import socket

        def up():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_until(up, timeout=10)
        yield f"git://127.0.0.1:{port}/repo.git"
    finally:
        # `git daemon` runs git-daemon as a child of its own: end the whole group.
        import os
        import signal
        try:
            os.killpg(daemon.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        daemon.wait()


@pytest.mark.timeout(120)
def test_git_remote_context_matches_dockerd(pulled, sockerlessd, dockerd, git_server, clean):
    """remote=git://…#ref:subdir (what the SDK sends for a git path) beside dockerd: the
    ref and subdirectory chosen, and dockerd's error for a ref that is not there."""
    for d in (sockerlessd, dockerd):
        clean(d)
        client = d.client(timeout=120)
        image, _ = client.images.build(path=f"{git_server}#main:sub", tag="sockerless-build-test:git")
        assert client.containers.run(image.id, remove=True) == b"from git\n", d.name
        image, _ = client.images.build(path=f"{git_server}#main", tag="sockerless-build-test:git2")
        assert client.containers.run(image.id, remove=True) == b"top\n", d.name
        # dockerd 20.10 fetches "master" when the URL names no ref; this repo has none.
        with pytest.raises(Exception) as err:
            client.images.build(path=git_server)
        text = str(err.value)
        assert "500 Server Error" in text and \
            "(\"error fetching: fatal: couldn't find remote ref master\n: exit status 128\")" in text, \
            (d.name, text)
        with pytest.raises(Exception) as err:
            client.images.build(path=f"{git_server}#main:nowhere")
        assert "/nowhere: no such file or directory" in str(err.value), (d.name, str(err.value))


@pytest.mark.timeout(120)
def test_from_scratch_matches_dockerd(sockerlessd, dockerd, tmp_path, clean):
    """FROM scratch: one layer per COPY, no parent, dockerd's default PATH, and no image
    left behind but the result."""
    import shutil

    ctx = tmp_path / "ctx"
    ctx.mkdir()
    shutil.copy("/bin/busybox", ctx / "busybox")
    (ctx / "Dockerfile").write_text(
        "FROM scratch\nCOPY busybox /bin/sh\nENV GREETING=hi\n"
        "CMD [\"/bin/sh\", \"-c\", \"echo $GREETING from scratch; echo $PATH\"]\n")
    results = {}
    for d in (sockerlessd, dockerd):
        clean(d)
        before = ids(d, "image")
        r = build(d, ctx, "-t", "sockerless-build-test:scratch")
        made = ids(d, "image") - before
        doc = json.loads(d.docker("inspect", "sockerless-build-test:scratch").stdout)[0]
        run = d.docker("run", "--rm", "sockerless-build-test:scratch")
        history = d.docker("history", "-q", "sockerless-build-test:scratch").stdout.split()
        results[d.name] = {
            "steps": masked(r.stdout),
            "images made": len(made),
            "layers": len(doc["RootFS"]["Layers"]),
            "env": doc["Config"]["Env"],
            "run": run.stdout,
            "history": len(history),
        }
    assert results["sockerlessd"] == results["dockerd"]
    assert results["sockerlessd"]["run"].startswith("hi from scratch\n")


@pytest.mark.backends("memory", reason="heredocs are sockerless's builder's; dockerd's classic builder has none")
@pytest.mark.timeout(120)
def test_shebang_heredoc_runs_as_a_file(pulled, sockerlessd, tmp_path, clean):
    """RUN <<EOF with a #! line runs the body as /dev/pipes/EOF, as BuildKit does (dockerd's
    classic builder has no heredocs, so sockerless only); the script is not left in the
    image, and a changed body is not a cache hit."""
    clean(sockerlessd)
    ctx = tmp_path / "ctx"

    def dockerfile(word: str) -> Path:
        return write_context(ctx, {"Dockerfile": (
            f"FROM {pulled.ref('busybox:latest')}\n"
            "RUN <<EOF\n#!/bin/sh\nset -e\n"
            f"echo \"{word} from $0 as $(id -u)\" > /out\nEOF\n"
            "CMD [\"cat\", \"/out\"]\n")})

    build(sockerlessd, dockerfile("first"), "-t", "sockerless-build-test:shebang")
    out = sockerlessd.docker("run", "--rm", "sockerless-build-test:shebang")
    assert out.stdout == "first from /dev/pipes/EOF as 0\n", out
    # Not in the image's files (a running container's /dev is a fresh tmpfs, so look at
    # the layers through an export of a created container).
    cid = sockerlessd.docker("create", "sockerless-build-test:shebang").stdout.strip()
    export = subprocess.run(["docker", "-H", sockerlessd.host, "export", cid],
                            capture_output=True, env={**os.environ,
                                                      "DOCKER_CONFIG": sockerlessd.docker_config})
    names = tarfile.open(fileobj=io.BytesIO(export.stdout)).getnames()
    assert "out" in names and not any("pipes" in n for n in names), names
    r = build(sockerlessd, dockerfile("second"), "-t", "sockerless-build-test:shebang")
    assert "Using cache" not in r.stdout.split("RUN")[1]
    out = sockerlessd.docker("run", "--rm", "sockerless-build-test:shebang")
    assert out.stdout == "second from /dev/pipes/EOF as 0\n", out


@pytest.mark.timeout(180)
def test_add_tar_and_url_onbuild_chown_by_name_and_prune_match_dockerd(
        pulled, sockerlessd, dockerd, tmp_path, clean):
    """ADD of a local tar (extracted) and of a URL (not extracted, 0600), ONBUILD triggers
    run by the child build, COPY --chown by user and group name, and build prune."""
    import http.server
    import threading

    from harness import free_tcp_port

    served = tmp_path / "www"
    served.mkdir()
    (served / "remote.txt").write_text("over http\n")
    port = free_tcp_port()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(served), **k)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        ctx = tmp_path / "ctx"
        ctx.mkdir()
        with tarfile.open(ctx / "bundle.tar.gz", "w:gz") as t:
            data = b"inside the tar\n"
            info = tarfile.TarInfo("bundle/inner.txt")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        (ctx / "owned.txt").write_text("owned\n")
        base = pulled.ref("busybox:latest")
        (ctx / "Dockerfile").write_text(
            f"FROM {base}\n"
            "RUN echo 'sailor:x:1234:4321::/home:/bin/sh' >> /etc/passwd && "
            "echo 'crew:x:4321:' >> /etc/group\n"
            "ADD bundle.tar.gz /opt/\n"
            f"ADD http://127.0.0.1:{port}/remote.txt /opt/remote.txt\n"
            "COPY --chown=sailor:crew owned.txt /opt/owned.txt\n"
            "ONBUILD RUN echo triggered > /opt/onbuild.txt\n")
        child = tmp_path / "child"
        child.mkdir()
        (child / "Dockerfile").write_text("FROM sockerless-build-test:parent\n"
                                          "CMD [\"sh\", \"-c\", \"cat /opt/bundle/inner.txt "
                                          "/opt/remote.txt /opt/onbuild.txt; "
                                          "stat -c '%a %U:%G %n' /opt/remote.txt /opt/owned.txt\"]\n")
        results = {}
        for d in (sockerlessd, dockerd):
            clean(d)
            build(d, ctx, "-t", "sockerless-build-test:parent")
            r = build(d, child, "-t", "sockerless-build-test:child")
            run = d.docker("run", "--rm", "sockerless-build-test:child")
            prune = d.docker("builder", "prune", "-f", env=BUILD_ENV)
            results[d.name] = (masked(r.stdout), run.stdout, prune.returncode)
        assert results["sockerlessd"] == results["dockerd"]
        assert results["sockerlessd"][1] == ("inside the tar\nover http\ntriggered\n"
                                             "600 root:root /opt/remote.txt\n"
                                             "644 sailor:crew /opt/owned.txt\n")
    finally:
        httpd.shutdown()


def tar_of(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data.encode())
            tar.addfile(info, io.BytesIO(data.encode()))
    return buf.getvalue()


def raw_build(d, query: str, files: dict[str, str]):
    """POST /build with a tar of `files`; returns (status, the stream's lines)."""
    r = d.raw("POST", f"/build?{query}", tar_of(files), {"Content-Type": "application/x-tar"},
              timeout=120)
    return r.status, [line for line in r.text.splitlines() if line.strip()]


RANDOM_DOCKERFILE = re.compile(r"\.dockerfile\.[0-9a-f]+")


@pytest.mark.timeout(300)
def test_build_files_leave_the_context_as_dockerd(pulled, sockerlessd, dockerd, tmp_path, clean):
    """The Dockerfile and .dockerignore are read, then taken out of the context when
    .dockerignore names them: a Dockerfile from outside the context (the CLI and the SDK
    send it as .dockerfile.<random> and name it in .dockerignore; the CLI sends that tar
    without its end blocks) is never copied by COPY . ."""
    base = pulled.ref("busybox:latest")
    outside = write_context(tmp_path / "outside", {
        "Dockerfile": f"FROM {base}\nCOPY . /ctx/\nCMD [\"ls\", \"-A\", \"/ctx\"]\n"})
    plain = write_context(tmp_path / "plain", {"a.txt": "a\n"})
    kept = write_context(tmp_path / "kept", {"a.txt": "a\n", "secret": "s\n",
                                             ".dockerignore": "secret\n"})
    named = write_context(tmp_path / "named", {
        "a.txt": "a\n", ".dockerignore": "Dockerfile\n.dockerignore\n",
        "Dockerfile": f"FROM {base}\nCOPY . /ctx/\nCMD [\"ls\", \"-A\", \"/ctx\"]\n"})
    results = {}
    for d in (sockerlessd, dockerd):
        clean(d)
        listing = {}
        for name, ctx, args in (("outside", plain, ["-f", str(outside / "Dockerfile")]),
                                ("outside+ignore", kept, ["-f", str(outside / "Dockerfile")]),
                                ("named", named, [])):
            build(d, ctx, "-t", "sockerless-build-test:files", *args)
            r = d.docker("run", "--rm", "sockerless-build-test:files")
            assert r.returncode == 0, r.stderr
            listing[name] = r.stdout
        client = d.client(timeout=120)
        image, _ = client.images.build(path=str(plain), dockerfile=str(outside / "Dockerfile"),
                                       tag="sockerless-build-test:files")
        out = client.containers.run(image.id, remove=True).decode()
        listing["sdk"] = RANDOM_DOCKERFILE.sub(".dockerfile.<random>", out)
        results[d.name] = listing
    assert results["sockerlessd"] == {
        "outside": "a.txt\n", "outside+ignore": ".dockerignore\na.txt\n", "named": "a.txt\n",
        "sdk": "a.txt\n"}
    assert results["sockerlessd"] == results["dockerd"], results


@pytest.mark.timeout(240)
def test_dockerignore_exceptions_below_an_ignored_directory(pulled, sockerlessd, dockerd,
                                                             tmp_path, clean):
    """`dir` then `!dir/keep` (names with spaces too): the kept files arrive with their
    directory, COPY of the directory itself works, and the rest stays out."""
    ctx = write_context(tmp_path / "ctx", {
        "Dockerfile": f"FROM {pulled.ref('busybox:latest')}\nCOPY . /ctx/\n"
                      "COPY dir /only/\nCOPY [\"my dir\", \"/spaced/\"]\n"
                      "CMD find /ctx /only /spaced | sort\n",
        ".dockerignore": "dir\n!dir/keep\nmy dir\n!my dir/keep me\nempty\n!empty/nothing\n",
        "dir/keep": "k\n", "dir/drop": "d\n", "dir/sub/drop": "d\n",
        "my dir/keep me": "k\n", "my dir/drop me": "d\n",
        "empty/x": "x\n", "top.txt": "t\n",
    })
    results = {}
    for d in (sockerlessd, dockerd):
        clean(d)
        build(d, ctx, "-t", "sockerless-build-test:except")
        r = d.docker("run", "--rm", "sockerless-build-test:except")
        assert r.returncode == 0, r.stderr
        results[d.name] = r.stdout
    assert results["sockerlessd"] == (
        "/ctx\n/ctx/.dockerignore\n/ctx/Dockerfile\n/ctx/dir\n/ctx/dir/keep\n/ctx/my dir\n"
        "/ctx/my dir/keep me\n/ctx/top.txt\n/only\n/only/keep\n/spaced\n/spaced/keep me\n")
    assert results["sockerlessd"] == results["dockerd"]


@pytest.mark.timeout(400)
def test_cache_from_limits_the_cache_to_the_named_images(pulled, sockerlessd, dockerd, tmp_path,
                                                         clean):
    """--cache-from: a missing image alone means no cache; an image built here serves its
    own chain only; an image loaded from a tar (no parents) serves through its history."""
    base = pulled.ref("busybox:latest")
    ctx_a = write_context(tmp_path / "a", {
        "Dockerfile": f"FROM {base}\nRUN echo one > /one\nENV X=1\nRUN echo two > /two\n"})
    ctx_b = write_context(tmp_path / "b", {
        "Dockerfile": f"FROM {base}\nRUN echo one > /one\nRUN echo other > /other\n"})
    ctx_l = write_context(tmp_path / "l", {
        "Dockerfile": f"FROM {base}\nRUN echo l1 > /l1\nENV L=1\nRUN echo l2 > /l2\n"})
    results = {}
    for d in (sockerlessd, dockerd):
        clean(d)
        out = {}
        build(d, ctx_a, "-t", "sockerless-build-test:cf-a")
        build(d, ctx_b, "-t", "sockerless-build-test:cf-b")
        out["missing"] = masked(build(d, ctx_a, "--cache-from", "sockerless-build-test:nope").stdout)
        out["own"] = masked(build(d, ctx_a, "--cache-from", "sockerless-build-test:cf-a").stdout)
        out["other"] = masked(build(d, ctx_a, "--cache-from", "sockerless-build-test:cf-b").stdout)
        # An image with no parents here: saved, removed, loaded again.
        build(d, ctx_l, "-t", "sockerless-build-test:cf-l")
        loaded_id = d.docker("inspect", "-f", "{{.Id}}", "sockerless-build-test:cf-l").stdout.strip()
        saved = tmp_path / f"{d.name}-l.tar"
        assert d.docker("save", "-o", str(saved), "sockerless-build-test:cf-l").returncode == 0
        assert d.docker("rmi", "sockerless-build-test:cf-l").returncode == 0
        assert d.docker("load", "-i", str(saved)).returncode == 0
        r = build(d, ctx_l, "--cache-from", "sockerless-build-test:cf-l",
                  "-t", "sockerless-build-test:cf-l2")
        out["loaded"] = masked(r.stdout)
        out["loaded same id"] = d.docker("inspect", "-f", "{{.Id}}",
                                         "sockerless-build-test:cf-l2").stdout.strip() == loaded_id
        results[d.name] = out
    s = results["sockerlessd"]
    assert not any("Using cache" in line for line in s["missing"])
    assert sum("Using cache" in line for line in s["own"]) == 3
    assert sum("Using cache" in line for line in s["other"]) == 1
    assert sum("Using cache" in line for line in s["loaded"]) == 3 and s["loaded same id"]
    assert s == results["dockerd"]


@pytest.mark.timeout(180)
def test_run_stderr_is_red_and_errors_are_shaped_as_dockerd(pulled, sockerlessd, dockerd, clean):
    """RUN's stderr comes as {"stream":"\\x1b[91m…\\x1b[0m"}; a failing RUN ends the stream
    with errorDetail {code, message} before error, other failures without a code; q=1
    holds the output back (only the ID on success, all of it before an error)."""
    base = pulled.ref("busybox:latest")
    results = {}
    for d in (sockerlessd, dockerd):
        clean(d)
        out = {}
        status, lines = raw_build(d, "rm=1", {
            "Dockerfile": f"FROM {base}\nRUN echo out; echo err >&2\n"})
        assert status == 200, lines
        messages = [json.loads(line) for line in lines]
        out["stderr"] = [m for m in messages if "\x1b" in m.get("stream", "")]
        out["stdout"] = [m for m in messages if m.get("stream") == "out\n"]
        status, lines = raw_build(d, "rm=1&forcerm=1", {
            "Dockerfile": f"FROM {base}\nRUN exit 3\n"})
        out["run failed"] = (status, lines[-1])
        status, lines = raw_build(d, "rm=1", {"Dockerfile": f"FROM {base}\nCOPY missing /x\n"})
        out["copy failed"] = (status, lines[-1])
        status, lines = raw_build(d, "q=1&forcerm=1", {
            "Dockerfile": f"FROM {base}\nRUN echo quiet\nRUN exit 4\n"})
        # dockerd cuts its messages differently ("Step …" and "\n" apart) and escapes
        # <, > and & as Go does: the text and the error line are compared.
        text = "".join(json.loads(line).get("stream", "") for line in lines[:-1])
        out["quiet failed"] = (status, masked(text), lines[-1])
        status, lines = raw_build(d, "q=1", {"Dockerfile": f"FROM {base}\nENV Q=1\n"})
        out["quiet ok"] = (status, [re.sub(r"[0-9a-f]{64}", "<id>", line) for line in lines])
        results[d.name] = out
    s = results["sockerlessd"]
    assert s["stderr"] == [{"stream": "\x1b[91merr\n\x1b[0m"}]
    assert s["stdout"] == [{"stream": "out\n"}]
    message = "The command '/bin/sh -c exit 3' returned a non-zero code: 3"
    assert s["run failed"] == (200, json.dumps(
        {"errorDetail": {"code": 3, "message": message}, "error": message}, separators=(",", ":")))
    assert s["copy failed"][1].startswith('{"errorDetail":{"message":"COPY failed: ')
    assert s["quiet ok"] == (200, ['{"stream":"sha256:<id>\\n"}'])
    assert s == results["dockerd"]


@pytest.mark.timeout(180)
def test_extra_hosts_reach_run_steps(pulled, sockerlessd, dockerd, tmp_path, clean):
    """--add-host (CLI) and extra_hosts (SDK) are in /etc/hosts of every RUN step."""
    ctx = write_context(tmp_path / "ctx", {
        "Dockerfile": f"FROM {pulled.ref('busybox:latest')}\n"
                      "RUN grep -E 'clihost|sdkhost' /etc/hosts > /hosts\nCMD [\"cat\", \"/hosts\"]\n"})
    results = {}
    for d in (sockerlessd, dockerd):
        clean(d)
        build(d, ctx, "--no-cache", "--add-host", "clihost:10.1.2.3", "-t",
              "sockerless-build-test:hosts")
        cli = d.docker("run", "--rm", "sockerless-build-test:hosts").stdout
        client = d.client(timeout=120)
        image, _ = client.images.build(path=str(ctx), nocache=True,
                                       extra_hosts={"sdkhost": "10.9.8.7"})
        sdk = client.containers.run(image.id, remove=True).decode()
        results[d.name] = (cli, sdk)
    assert results["sockerlessd"] == ("10.1.2.3\tclihost\n", "10.9.8.7\tsdkhost\n")
    assert results["sockerlessd"] == results["dockerd"]


@pytest.mark.timeout(300)
def test_build_context_beyond_64_mib(pulled, sockerlessd, dockerd, tmp_path, clean):
    """A build context has no size limit: 65 MiB and more (a sparse file, cheap to make),
    sent by the CLI and, with its Content-Length, by the Python SDK; the file after it in
    the context arrives too."""
    ctx = write_context(tmp_path / "ctx", {
        "Dockerfile": f"FROM {pulled.ref('busybox:latest')}\nCOPY zz-last /zz-last\n"
                      "RUN cat /zz-last\n",
        "zz-last": "the end of the context\n",
    })
    with open(ctx / "big.bin", "wb") as f:
        f.truncate(65 << 20)
    for d in (sockerlessd, dockerd):
        clean(d)
        r = build(d, ctx, "-t", "big-context:1")
        assert "the end of the context" in r.stdout, r.stdout
        image, _ = d.client(timeout=240).images.build(path=str(ctx), tag="big-context:2",
                                                      rm=True)
        assert "big-context:2" in image.tags

"""ECR on the AWS simulator, judged by awscli, boto3, the docker CLI (through a sockerlessd,
which does the pushing and pulling), skopeo, and the ECS tasks that pull from it:
repositories, authorization tokens, `docker login`/`push`/`pull` against the registry at the
repository's URI, cross-repository mounts, the images ECR's API reports, their deletion,
and the OCI distribution protocol's own rules and errors."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import VENV_BIN, AwsCliError, default_subnet, refused, wait_for

# awscli starts slowly on a busy machine (a second or more a call): generous budgets.
pytestmark = pytest.mark.timeout(120)

ACCOUNT = "123456789012"
EXEC_ROLE = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"




def password(aws_sim) -> str:
    return aws_sim.aws_raw("ecr", "get-login-password").stdout.strip()


class V2:
    """Plain HTTP against the simulator's /v2/ registry, with Basic credentials."""

    def __init__(self, aws_sim, user: str = "AWS", secret: str | None = None):
        self.host, self.port = "127.0.0.1", aws_sim.port
        secret = password(aws_sim) if secret is None else secret
        self.auth = "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()

    def __call__(self, method: str, path: str, body: bytes = b"", headers: dict | None = None,
                 auth: bool = True):
        c = http.client.HTTPConnection(self.host, self.port, timeout=30)
        h = dict(headers or {})
        if auth:
            h["Authorization"] = self.auth
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def errors(self, data: bytes) -> list[str]:
        return [e["code"] for e in json.loads(data)["errors"]]

    def push_blob(self, repo: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        status, _, body = self("POST", f"/v2/{repo}/blobs/uploads/?digest={digest}", data,
                               {"Content-Type": "application/octet-stream"})
        assert status == 201, body
        return digest


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_manifest(config: str, config_size: int, layers: list[tuple[str, int]],
                   media_type: str = OCI_MANIFEST, **extra) -> bytes:
    return json.dumps({
        "schemaVersion": 2, "mediaType": media_type, **extra,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": n}
                   for d, n in layers]}).encode()


# ----------------------------------------------------------------------------- repositories


def test_repositories_with_awscli(aws_sim):
    r = aws_sim.aws("ecr", "create-repository", "--repository-name", "team/app",
                    "--tags", "Key=owner,Value=ci")["repository"]
    assert r["repositoryUri"] == f"{aws_sim.host}/team/app"
    assert r["repositoryArn"] == f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/team/app"
    assert r["registryId"] == ACCOUNT and r["imageTagMutability"] == "MUTABLE"
    assert r["encryptionConfiguration"] == {"encryptionType": "AES256"}
    assert r["createdAt"] > time.time() - 60
    with pytest.raises(AwsCliError) as e:
        aws_sim.aws("ecr", "create-repository", "--repository-name", "team/app")
    assert "RepositoryAlreadyExistsException" in e.value.stderr
    for bad in ["Upper", "-lead", "trailing-", "double//slash", "x:y", "a..b"]:
        with pytest.raises(AwsCliError) as e:
            aws_sim.aws("ecr", "create-repository", f"--repository-name={bad}")
        assert "InvalidParameterException" in e.value.stderr, bad

    d = aws_sim.aws("ecr", "describe-repositories", "--repository-names", "team/app")["repositories"]
    assert d == [r]
    with pytest.raises(AwsCliError) as e:
        aws_sim.aws("ecr", "describe-repositories", "--repository-names", "team/app", "missing")
    assert "RepositoryNotFoundException" in e.value.stderr
    assert f"The repository with name 'missing' does not exist in the registry with id '{ACCOUNT}'" in e.value.stderr

    gone = aws_sim.aws("ecr", "delete-repository", "--repository-name", "team/app")["repository"]
    assert gone["repositoryName"] == "team/app"
    with pytest.raises(AwsCliError) as e:
        aws_sim.aws("ecr", "delete-repository", "--repository-name", "team/app")
    assert "RepositoryNotFoundException" in e.value.stderr


def test_describe_repositories_pages(aws_sim):
    ecr = aws_sim.client("ecr")
    for i in range(5):
        ecr.create_repository(repositoryName=f"pages/r{i}")
    pages = list(ecr.get_paginator("describe_repositories").paginate(PaginationConfig={"PageSize": 2}))
    names = [r["repositoryName"] for p in pages for r in p["repositories"]]
    assert [n for n in names if n.startswith("pages/")] == [f"pages/r{i}" for i in range(5)]
    assert all(len(p["repositories"]) <= 2 for p in pages) and len(pages) >= 3
    refused(ecr.describe_repositories, "InvalidParameterException", nextToken="garbage")
    refused(ecr.describe_repositories, "InvalidParameterException", repositoryNames=["pages/r0"], maxResults=1)
    for i in range(5):
        ecr.delete_repository(repositoryName=f"pages/r{i}")


def test_repository_tags(aws_sim):
    ecr = aws_sim.client("ecr")
    arn = ecr.create_repository(repositoryName="tagged", tags=[{"Key": "a", "Value": "1"}])["repository"]["repositoryArn"]
    assert ecr.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "a", "Value": "1"}]
    ecr.tag_resource(resourceArn=arn, tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "one"}])
    assert sorted((t["Key"], t["Value"]) for t in ecr.list_tags_for_resource(resourceArn=arn)["tags"]) == [
        ("a", "one"), ("b", "2")]
    aws_sim.aws("ecr", "untag-resource", "--resource-arn", arn, "--tag-keys", "a")
    assert aws_sim.aws("ecr", "list-tags-for-resource", "--resource-arn", arn)["tags"] == [{"Key": "b", "Value": "2"}]
    refused(ecr.tag_resource, "InvalidTagParameterException", resourceArn=arn, tags=[{"Key": "k" * 129, "Value": "v"}])
    refused(ecr.tag_resource, "TooManyTagsException", resourceArn=arn,
            tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    refused(ecr.list_tags_for_resource, "RepositoryNotFoundException",
            resourceArn=f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/nope")
    refused(ecr.list_tags_for_resource, "InvalidParameterException", resourceArn="nope")
    ecr.delete_repository(repositoryName="tagged")


def test_authorization_token(aws_sim):
    data = aws_sim.client("ecr").get_authorization_token()["authorizationData"]
    assert len(data) == 1
    user, secret = base64.b64decode(data[0]["authorizationToken"]).decode().split(":", 1)
    assert user == "AWS" and secret
    assert data[0]["proxyEndpoint"] == aws_sim.endpoint
    left = data[0]["expiresAt"].timestamp() - time.time()
    assert 11.9 * 3600 < left <= 12 * 3600
    # the registry takes it, and nothing else
    assert V2(aws_sim, secret=secret)("GET", "/v2/")[0] == 200
    forged = secret[:-1] + ("0" if secret[-1] != "0" else "1")
    assert V2(aws_sim, secret=forged)("GET", "/v2/")[0] == 401
    assert V2(aws_sim, user="someone", secret=secret)("GET", "/v2/")[0] == 401


# ----------------------------------------------------------------------------- the registry


def test_registry_asks_for_basic_credentials(aws_sim):
    v2 = V2(aws_sim)
    status, headers, body = v2("GET", "/v2/", auth=False)
    assert status == 401
    assert headers["www-authenticate"] == f'Basic realm="http://{aws_sim.host}/",service="ecr.amazonaws.com"'
    assert headers["docker-distribution-api-version"] == "registry/2.0"
    assert v2.errors(body) == ["UNAUTHORIZED"]
    status, headers, body = v2("GET", "/v2/")
    assert status == 200 and json.loads(body) == {}
    # every other path needs them too
    assert v2("GET", "/v2/anything/tags/list", auth=False)[0] == 401


def test_registry_protocol(aws_sim):
    aws_sim.client("ecr").create_repository(repositoryName="proto")
    v2 = V2(aws_sim)

    # a repository that was not created: ECR's NAME_UNKNOWN
    status, _, body = v2("POST", "/v2/not-created/blobs/uploads/")
    assert status == 404 and json.loads(body)["errors"][0] == {
        "code": "NAME_UNKNOWN", "detail": {"name": "not-created"},
        "message": f"The repository with name 'not-created' does not exist in the registry with id '{ACCOUNT}'"}
    assert v2.errors(v2("GET", "/v2/Bad_Name/tags/list")[2]) == ["NAME_INVALID"]

    # a chunked upload: POST, PATCH (with and without Content-Range), PUT with the digest
    layer = os.urandom(300_000)
    status, h, _ = v2("POST", "/v2/proto/blobs/uploads/")
    assert status == 202 and h["range"] == "0-0" and h["docker-upload-uuid"]
    where = h["location"]
    status, h, _ = v2("PATCH", where, layer[:100_000], {"Content-Range": "0-99999", "Content-Type": "application/octet-stream"})
    assert status == 202 and h["range"] == "0-99999"
    status, h, body = v2("PATCH", where, layer[:10], {"Content-Range": "5-14"})
    assert status == 416 and h["range"] == "0-99999" and v2.errors(body) == ["BLOB_UPLOAD_INVALID"]
    status, h, _ = v2("PATCH", where, layer[100_000:200_000])
    assert status == 202 and h["range"] == "0-199999"
    assert v2("GET", where)[0] == 204
    wrong = digest_of(b"something else")
    status, _, body = v2("PUT", f"{where}?digest={wrong}", layer[200_000:])
    assert status == 400 and v2.errors(body) == ["DIGEST_INVALID"]
    # a failed upload is over
    assert v2.errors(v2("PATCH", where, b"x")[2]) == ["BLOB_UPLOAD_UNKNOWN"]
    assert v2("HEAD", f"/v2/proto/blobs/{digest_of(layer)}")[0] == 404

    status, h, _ = v2("POST", "/v2/proto/blobs/uploads/")
    where = h["location"]
    v2("PATCH", where, layer[:200_000])
    status, h, _ = v2("PUT", f"{where}?digest={digest_of(layer)}", layer[200_000:])
    assert status == 201 and h["docker-content-digest"] == digest_of(layer)
    assert h["location"] == f"/v2/proto/blobs/{digest_of(layer)}"
    status, h, body = v2("HEAD", f"/v2/proto/blobs/{digest_of(layer)}")
    assert status == 200 and body == b"" and h["content-length"] == str(len(layer))
    assert h["docker-content-digest"] == digest_of(layer)
    status, h, body = v2("GET", f"/v2/proto/blobs/{digest_of(layer)}")
    assert status == 200 and body == layer and h["content-length"] == str(len(layer))

    # monolithic upload of the config; a manifest must name blobs the repository holds
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    config_digest = v2.push_blob("proto", config)
    missing = digest_of(b"never pushed")
    bad = image_manifest(config_digest, len(config), [(digest_of(layer), len(layer)), (missing, 12)])
    status, _, body = v2("PUT", "/v2/proto/manifests/v1", bad, {"Content-Type": OCI_MANIFEST})
    assert status == 400 and json.loads(body)["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"
    assert json.loads(body)["errors"][0]["detail"] == {"digest": missing}
    good = image_manifest(config_digest, len(config), [(digest_of(layer), len(layer))])
    status, _, body = v2("PUT", f"/v2/proto/manifests/{digest_of(b'other')}", good, {"Content-Type": OCI_MANIFEST})
    assert status == 400 and v2.errors(body) == ["DIGEST_INVALID"]
    status, h, _ = v2("PUT", "/v2/proto/manifests/v1", good, {"Content-Type": OCI_MANIFEST})
    assert status == 201 and h["docker-content-digest"] == digest_of(good)
    for ref in ["v1", digest_of(good)]:
        status, h, body = v2("GET", f"/v2/proto/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
        assert status == 200 and body == good and h["content-type"] == OCI_MANIFEST
        assert h["docker-content-digest"] == digest_of(good)
        status, h, body = v2("HEAD", f"/v2/proto/manifests/{ref}")
        assert status == 200 and body == b"" and h["content-length"] == str(len(good))
    assert v2.errors(v2("GET", "/v2/proto/manifests/nope")[2]) == ["MANIFEST_UNKNOWN"]

    # an index of the manifest, more tags, tags/list with paging
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": digest_of(good), "size": len(good),
         "platform": {"architecture": "amd64", "os": "linux"}}]}).encode()
    assert v2("PUT", "/v2/proto/manifests/multi", index, {"Content-Type": OCI_INDEX})[0] == 201
    for t in ["v2", "v3"]:
        assert v2("PUT", f"/v2/proto/manifests/{t}", good, {"Content-Type": OCI_MANIFEST})[0] == 201
    status, h, body = v2("GET", "/v2/proto/tags/list?n=2")
    assert json.loads(body) == {"name": "proto", "tags": ["multi", "v1"]}
    assert h["link"] == '</v2/proto/tags/list?n=2&last=v1>; rel="next"'
    assert json.loads(v2("GET", "/v2/proto/tags/list?n=2&last=v1")[2])["tags"] == ["v2", "v3"]

    # deleting a tag leaves the manifest; deleting by digest takes its tags
    assert v2("DELETE", "/v2/proto/manifests/v3")[0] == 202
    assert v2("GET", "/v2/proto/manifests/v3")[0] == 404
    assert v2("DELETE", f"/v2/proto/manifests/{digest_of(index)}")[0] == 202
    assert json.loads(v2("GET", "/v2/proto/tags/list")[2])["tags"] == ["v1", "v2"]

    # a mount from a repository that holds the blob, and a fallback upload when it does not
    aws_sim.client("ecr").create_repository(repositoryName="proto-copy")
    status, h, _ = v2("POST", f"/v2/proto-copy/blobs/uploads/?mount={digest_of(layer)}&from=proto")
    assert status == 201 and h["docker-content-digest"] == digest_of(layer)
    assert v2("HEAD", f"/v2/proto-copy/blobs/{digest_of(layer)}")[0] == 200
    status, h, _ = v2("POST", f"/v2/proto-copy/blobs/uploads/?mount={missing}&from=proto")
    assert status == 202 and "/blobs/uploads/" in h["location"]
    assert v2("DELETE", h["location"])[0] == 204
    # a blob is only in the repositories it was pushed or mounted into
    assert v2("HEAD", f"/v2/proto-copy/blobs/{config_digest}")[0] == 404

    # ECR's view of what the protocol pushed
    ecr = aws_sim.client("ecr")
    details = ecr.describe_images(repositoryName="proto")["imageDetails"]
    assert [(d["imageDigest"], sorted(d["imageTags"])) for d in details] == [(digest_of(good), ["v1", "v2"])]
    assert details[0]["imageSizeInBytes"] == len(layer)
    assert details[0]["imageManifestMediaType"] == OCI_MANIFEST
    assert details[0]["artifactMediaType"] == "application/vnd.oci.image.config.v1+json"

    # a repository deleted with force takes its images
    refused(ecr.delete_repository, "RepositoryNotEmptyException", "still contains images", repositoryName="proto")
    ecr.delete_repository(repositoryName="proto", force=True)
    ecr.delete_repository(repositoryName="proto-copy", force=True)
    assert v2.errors(v2("GET", "/v2/proto/tags/list")[2]) == ["NAME_UNKNOWN"]


@pytest.mark.timeout(120)
def test_registry_streams_blobs_past_the_buffered_limit(aws_sim):
    """A layer bigger than the simulator's limit for buffered request bodies (64 MiB) goes
    through, in one PATCH and monolithically, and comes back whole."""
    aws_sim.client("ecr").create_repository(repositoryName="big")
    v2 = V2(aws_sim)
    blob = os.urandom(1 << 20) * 70
    status, h, _ = v2("POST", "/v2/big/blobs/uploads/")
    status, h, body = v2("PATCH", h["location"], blob)
    assert status == 202 and h["range"] == f"0-{len(blob) - 1}", body
    status, h, body = v2("PUT", f"{h['location']}?digest={digest_of(blob)}")
    assert status == 201, body
    status, h, body = v2("GET", f"/v2/big/blobs/{digest_of(blob)}")
    assert status == 200 and h["content-length"] == str(len(blob)) and body == blob
    again = blob[:-1] + b"!"
    assert v2.push_blob("big", again) == digest_of(again)
    # content-addressed files under the data root, gone with the only repository holding them
    stored = os.path.join(aws_sim.data_root, "registry", "blobs", "sha256", digest_of(blob)[7:])
    assert os.path.getsize(stored) == len(blob)
    aws_sim.client("ecr").delete_repository(repositoryName="big", force=True)
    assert not os.path.exists(stored)


def test_put_image_and_immutable_tags(aws_sim):
    ecr = aws_sim.client("ecr")
    ecr.create_repository(repositoryName="frozen", imageTagMutability="IMMUTABLE")
    v2 = V2(aws_sim)
    config = b'{"architecture":"amd64","os":"linux"}'
    config_digest = v2.push_blob("frozen", config)
    one = image_manifest(config_digest, len(config), [])
    two = image_manifest(config_digest, len(config), [], annotations={"n": "2"})
    put = ecr.put_image(repositoryName="frozen", imageManifest=one.decode(), imageTag="v1",
                        imageManifestMediaType=OCI_MANIFEST)["image"]
    assert put["imageId"] == {"imageDigest": digest_of(one), "imageTag": "v1"}
    refused(ecr.put_image, "ImageAlreadyExistsException", repositoryName="frozen", imageManifest=one.decode(),
            imageTag="v1")
    refused(ecr.put_image, "ImageTagAlreadyExistsException", "immutable", repositoryName="frozen",
            imageManifest=two.decode(), imageTag="v1")
    status, _, body = v2("PUT", "/v2/frozen/manifests/v1", two, {"Content-Type": OCI_MANIFEST})
    assert status == 400 and v2.errors(body) == ["TAG_INVALID"]
    layerless = image_manifest(config_digest, len(config), [(digest_of(b"absent"), 6)])
    refused(ecr.put_image, "LayersNotFoundException", repositoryName="frozen", imageManifest=layerless.decode(),
            imageTag="v2")
    refused(ecr.put_image, "ImageDigestDoesNotMatchException", repositoryName="frozen",
            imageManifest=two.decode(), imageTag="v2", imageDigest=digest_of(b"x"))
    ecr.put_image_tag_mutability(repositoryName="frozen", imageTagMutability="MUTABLE")
    ecr.put_image(repositoryName="frozen", imageManifest=two.decode(), imageTag="v1")
    ids = ecr.list_images(repositoryName="frozen")["imageIds"]
    assert sorted(ids, key=lambda i: i["imageDigest"]) == sorted(
        [{"imageDigest": digest_of(one)}, {"imageDigest": digest_of(two), "imageTag": "v1"}],
        key=lambda i: i["imageDigest"])
    assert ecr.list_images(repositoryName="frozen", filter={"tagStatus": "UNTAGGED"})["imageIds"] == [
        {"imageDigest": digest_of(one)}]
    ecr.delete_repository(repositoryName="frozen", force=True)


def test_repositories_images_and_tokens_survive_a_restart(sim_factory):
    sim = sim_factory()
    sim.client("ecr").create_repository(repositoryName="kept", imageTagMutability="IMMUTABLE")
    secret = password(sim)
    v2 = V2(sim, secret=secret)
    config = b'{"architecture":"amd64","os":"linux"}'
    layer = os.urandom(5000)
    manifest = image_manifest(v2.push_blob("kept", config), len(config), [(v2.push_blob("kept", layer), len(layer))])
    assert v2("PUT", "/v2/kept/manifests/v1", manifest, {"Content-Type": OCI_MANIFEST})[0] == 201
    sim.stop()
    sim.start()
    ecr = sim.client("ecr")
    repo = ecr.describe_repositories(repositoryNames=["kept"])["repositories"][0]
    assert repo["imageTagMutability"] == "IMMUTABLE" and repo["repositoryUri"] == f"{sim.host}/kept"
    details = ecr.describe_images(repositoryName="kept")["imageDetails"]
    assert [(d["imageDigest"], d["imageTags"]) for d in details] == [(digest_of(manifest), ["v1"])]
    # the password issued before the restart still opens the registry, which still has the blobs
    v2 = V2(sim, secret=secret)
    status, _, body = v2("GET", f"/v2/kept/blobs/{digest_of(layer)}")
    assert status == 200 and body == layer
    assert v2("GET", "/v2/kept/manifests/v1")[2] == manifest


# ----------------------------------------------------------------------------- docker


@pytest.fixture(scope="module")
def docker_env():
    """A docker CLI configuration of this module's own, so the ECR login stays here."""
    d = tempfile.mkdtemp(prefix="ecr-docker-config-", dir="/tmp")
    yield {"DOCKER_CONFIG": d, "DOCKER_BUILDKIT": "0"}
    shutil.rmtree(d, ignore_errors=True)


def login(sockerlessd, aws_sim, docker_env, secret: str | None = None):
    secret = password(aws_sim) if secret is None else secret
    return sockerlessd.docker("login", "--username", "AWS", "--password-stdin", aws_sim.host,
                              input=secret, env=docker_env, timeout=60)


@pytest.fixture(scope="module")
def pushed(aws_sim, sockerlessd, registry, docker_env):
    """busybox from the test registry, pushed by `docker push` to the simulator's ECR."""
    ecr = aws_sim.client("ecr")
    ecr.create_repository(repositoryName="sim/busybox")
    r = login(sockerlessd, aws_sim, docker_env)
    assert r.returncode == 0 and "Login Succeeded" in r.stdout, r.stderr
    source = f"{registry.host}/busybox:latest"
    r = sockerlessd.docker("pull", "-q", source, env=docker_env, timeout=60)
    assert r.returncode == 0, r.stderr
    target = f"{aws_sim.host}/sim/busybox:1.0"
    assert sockerlessd.docker("tag", source, target, env=docker_env).returncode == 0
    r = sockerlessd.docker("push", target, env=docker_env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    digest = r.stdout.strip().splitlines()[-1].split("digest: ")[1].split()[0]
    return {"ref": target, "digest": digest, "push_output": r.stdout, "source": source}


@pytest.mark.timeout(120)
def test_docker_login(aws_sim, sockerlessd, docker_env):
    r = login(sockerlessd, aws_sim, docker_env, secret="123.not-a-signature")
    assert r.returncode != 0 and "401" in r.stderr + r.stdout, r
    # awscli's own pipeline, as the ECR documentation writes it
    p = subprocess.run(
        f"{VENV_BIN / 'aws'} ecr get-login-password --region us-east-1 | "
        f"docker -H {sockerlessd.host} login --username AWS --password-stdin {aws_sim.host}",
        shell=True, capture_output=True, text=True, timeout=60, env={**aws_sim.env, **docker_env})
    assert p.returncode == 0 and "Login Succeeded" in p.stdout, p.stderr


@pytest.mark.timeout(180)
def test_docker_push_and_pull(aws_sim, sockerlessd, pushed, docker_env):
    ecr = aws_sim.client("ecr")
    ids = ecr.list_images(repositoryName="sim/busybox")["imageIds"]
    assert ids == [{"imageDigest": pushed["digest"], "imageTag": "1.0"}]
    detail = aws_sim.aws("ecr", "describe-images", "--repository-name", "sim/busybox")["imageDetails"][0]
    assert detail["imageDigest"] == pushed["digest"] and detail["imageTags"] == ["1.0"]
    assert detail["imageManifestMediaType"] in (DOCKER_MANIFEST, OCI_MANIFEST)
    assert detail["registryId"] == ACCOUNT and detail["repositoryName"] == "sim/busybox"
    assert detail["imageSizeInBytes"] > 100_000
    assert abs(detail["imagePushedAt"] - time.time()) < 600
    got = ecr.batch_get_image(repositoryName="sim/busybox", imageIds=[{"imageTag": "1.0"}, {"imageTag": "nope"}])
    image = got["images"][0]
    manifest = json.loads(image["imageManifest"])
    assert digest_of(image["imageManifest"].encode()) == pushed["digest"]
    assert image["imageId"] == {"imageDigest": pushed["digest"], "imageTag": "1.0"}
    assert sum(l["size"] for l in manifest["layers"]) == detail["imageSizeInBytes"]
    assert got["failures"] == [{"imageId": {"imageTag": "nope"}, "failureCode": "ImageNotFound",
                                "failureReason": "Requested image not found"}]
    with pytest.raises(AwsCliError) as e:
        aws_sim.aws("ecr", "describe-images", "--repository-name", "sim/busybox", "--image-ids", "imageTag=nope")
    assert "ImageNotFoundException" in e.value.stderr

    # pulled back by tag and by digest, after the local copies are gone
    by_digest = f"{aws_sim.host}/sim/busybox@{pushed['digest']}"
    assert sockerlessd.docker("rmi", pushed["ref"], env=docker_env).returncode == 0
    r = sockerlessd.docker("pull", pushed["ref"], env=docker_env, timeout=60)
    assert r.returncode == 0 and pushed["digest"] in r.stdout, r.stdout + r.stderr
    r = sockerlessd.docker("pull", by_digest, env=docker_env, timeout=60)
    assert r.returncode == 0, r.stderr
    r = sockerlessd.docker("run", "--rm", by_digest, "echo", "from ecr", env=docker_env, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "from ecr", r.stderr

    # a tag ECR does not have, a repository it does not have
    r = sockerlessd.docker("pull", f"{aws_sim.host}/sim/busybox:missing", env=docker_env, timeout=60)
    assert r.returncode != 0 and "Requested image not found" in r.stderr, r.stderr
    sockerlessd.docker("tag", pushed["source"], f"{aws_sim.host}/never/created:1", env=docker_env)
    r = sockerlessd.docker("push", f"{aws_sim.host}/never/created:1", env=docker_env, timeout=60)
    assert r.returncode != 0
    assert f"The repository with name 'never/created' does not exist in the registry with id '{ACCOUNT}'" in \
        r.stdout + r.stderr


@pytest.mark.timeout(180)
def test_push_shares_layers(aws_sim, sockerlessd, pushed, docker_env):
    ecr = aws_sim.client("ecr")
    # the same image into another repository: its layer is mounted, not uploaded again
    ecr.create_repository(repositoryName="sim/copy")
    copy = f"{aws_sim.host}/sim/copy:latest"
    assert sockerlessd.docker("tag", pushed["ref"], copy, env=docker_env).returncode == 0
    r = sockerlessd.docker("push", copy, env=docker_env, timeout=120)
    assert r.returncode == 0 and "Mounted from sim/busybox" in r.stdout, r.stdout + r.stderr
    assert ecr.describe_images(repositoryName="sim/copy")["imageDetails"][0]["imageDigest"] == pushed["digest"]

    # an image built on it, into the first repository: the shared layer is already there
    ctx = tempfile.mkdtemp(prefix="ecr-build-", dir="/tmp")
    try:
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write(f"FROM {pushed['ref']}\nRUN echo second > /second\n")
        child = f"{aws_sim.host}/sim/busybox:2.0"
        r = sockerlessd.docker("build", "-q", "-t", child, ctx, env=docker_env, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    r = sockerlessd.docker("push", child, env=docker_env, timeout=120)
    assert r.returncode == 0 and "Layer already exists" in r.stdout and "Pushed" in r.stdout, r.stdout
    details = ecr.describe_images(repositoryName="sim/busybox")["imageDetails"]
    assert sorted(t for d in details for t in d.get("imageTags", [])) == ["1.0", "2.0"]

    # skopeo (containers/image; installed by install-deps) reads what docker pushed
    p = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--creds", f"AWS:{password(aws_sim)}",
                        f"docker://{child}"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert len(json.loads(p.stdout)["Layers"]) == 2

    # BatchDeleteImage by tag and by digest, with failures for what is not there
    two = next(d for d in details if "2.0" in d.get("imageTags", []))
    r = ecr.batch_delete_image(repositoryName="sim/busybox",
                               imageIds=[{"imageTag": "2.0"}, {"imageDigest": digest_of(b"nothing")}, {}])
    assert r["imageIds"] == [{"imageDigest": two["imageDigest"], "imageTag": "2.0"}]
    assert [(f["imageId"], f["failureCode"]) for f in r["failures"]] == [
        ({"imageDigest": digest_of(b"nothing")}, "ImageNotFound"), ({}, "MissingDigestAndTag")]
    r = aws_sim.aws("ecr", "batch-delete-image", "--repository-name", "sim/copy",
                    "--image-ids", f"imageDigest={pushed['digest']}")
    assert r["imageIds"] == [{"imageDigest": pushed["digest"], "imageTag": "latest"}] and r["failures"] == []
    assert ecr.list_images(repositoryName="sim/copy")["imageIds"] == []
    r = sockerlessd.docker("pull", copy, env=docker_env, timeout=60)
    assert r.returncode != 0
    ecr.delete_repository(repositoryName="sim/copy")


# ----------------------------------------------------------------------------- ECS


@pytest.mark.timeout(180)
def test_ecs_task_runs_the_pushed_image(aws_sim, pushed):
    """The issue's own scenario: busybox pushed with `docker push` to the simulator's ECR,
    run by ECS as `sh -c 'echo hi; exit 3'`, exit code and output coming back."""
    ecs, logs = aws_sim.client("ecs"), aws_sim.client("logs")
    ecs.create_cluster(clusterName="ecr-tests")
    logs.create_log_group(logGroupName="/ecs/ecr")
    td = ecs.register_task_definition(
        family="from-ecr", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        executionRoleArn=EXEC_ROLE, containerDefinitions=[{
            "name": "main", "image": pushed["ref"], "essential": True,
            "command": ["sh", "-c", "echo hi; exit 3"],
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/ecs/ecr", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}}}],
    )["taskDefinition"]
    network = {"awsvpcConfiguration": {"subnets": [default_subnet(aws_sim)]}}
    task = ecs.run_task(cluster="ecr-tests", taskDefinition=td["taskDefinitionArn"], launchType="FARGATE",
                        networkConfiguration=network)["tasks"][0]

    def stopped(arn):
        t = ecs.describe_tasks(cluster="ecr-tests", tasks=[arn])["tasks"][0]
        return t if t["lastStatus"] == "STOPPED" else None

    t = wait_for(lambda: stopped(task["taskArn"]), timeout=120, what="the task to stop")
    assert t["containers"][0]["exitCode"] == 3, t
    task_id = t["taskArn"].rsplit("/", 1)[1]
    events = aws_sim.aws("logs", "get-log-events", "--log-group-name", "/ecs/ecr",
                         "--log-stream-name", f"ecs/main/{task_id}", "--start-from-head")["events"]
    assert [e["message"] for e in events] == ["hi"]

    # a tag the repository does not have fails the task as ECS does
    td = ecs.register_task_definition(
        family="from-ecr-missing", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256",
        memory="512", containerDefinitions=[{"name": "main", "image": f"{aws_sim.host}/sim/busybox:absent"}],
    )["taskDefinition"]
    task = ecs.run_task(cluster="ecr-tests", taskDefinition=td["taskDefinitionArn"], launchType="FARGATE",
                        networkConfiguration=network)["tasks"][0]
    t = wait_for(lambda: stopped(task["taskArn"]), timeout=120, what="the task to stop")
    assert t["stopCode"] == "TaskFailedToStart"
    assert t["containers"][0]["reason"].startswith("CannotPullContainerError"), t

"""Lambda on the AWS simulator, judged by awscli and boto3: container image functions that
really run and speak the Runtime API (payload in and out, handler errors, timeouts, a
runtime that exits or fails its init, Tail logs, Event and DryRun invocations, warm reuse,
concurrency), their configuration and code updates, tags, CloudWatch Logs, the project's
sockerless-agent as a function's runtime, and the errors AWS answers bad input with."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import REPO, AwsCliError, wait_for, code_of

# awscli starts slowly on a busy machine (a second or more a call): generous budgets.
pytestmark = pytest.mark.timeout(120)
from fixtures.build_images import PATH_ENV, Layout, d, f, history, host_platform, make_tar, write_image
from fixtures.client_images import _link_blob

ROLE = "arn:aws:iam::123456789012:role/lambda-role"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:"
AGENT = REPO / "build" / "sockerless-agent"

# A runtime in Node.js: the loop of the Lambda Runtime API, as AWS's runtime interface
# clients run it. The event decides what the handler does.
HANDLER_JS = r"""
const http = require('http');
const fs = require('fs');
const os = require('os');
const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(':');
const base = '/2018-06-01/runtime';

function call(method, path, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({host, port, method, path, headers: headers || {}, agent: false}, res => {
      const chunks = [];
      res.on('data', c => chunks.push(c));
      res.on('end', () => resolve({status: res.statusCode, headers: res.headers,
                                   body: Buffer.concat(chunks).toString()}));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const picked = ['AWS_LAMBDA_FUNCTION_NAME', 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'AWS_LAMBDA_FUNCTION_VERSION', 'AWS_LAMBDA_LOG_GROUP_NAME', 'AWS_LAMBDA_LOG_STREAM_NAME',
  'AWS_REGION', 'AWS_DEFAULT_REGION', '_HANDLER', 'LAMBDA_TASK_ROOT', 'AWS_LAMBDA_RUNTIME_API',
  'GREETING', 'IMAGE_VERSION'];

async function main() {
  console.log(`init ${process.env.AWS_LAMBDA_FUNCTION_NAME} argv=${process.argv.slice(2).join(',')}`);
  if (process.env.INIT_FAIL) {
    await call('POST', base + '/init/error',
               JSON.stringify({errorMessage: 'init failed on purpose', errorType: 'InitBroken'}),
               {'Lambda-Runtime-Function-Error-Type': 'InitBroken'});
    process.exit(1);
  }
  for (;;) {
    const next = await call('GET', base + '/invocation/next');
    const id = next.headers['lambda-runtime-aws-request-id'];
    const event = JSON.parse(next.body);
    let count = 0;
    try { count = parseInt(fs.readFileSync('/tmp/count', 'utf8')); } catch (e) {}
    count += 1;
    fs.writeFileSync('/tmp/count', String(count));
    console.log(`handling ${id} ${JSON.stringify(event)}`);
    for (let i = 0; i < (event.lines || 0); i++) console.log(`line ${i} of ${id}`);
    if (event.sleep) await new Promise(r => setTimeout(r, event.sleep * 1000));
    if (event.exit !== undefined) process.exit(event.exit);
    if (event.fail) {
      await call('POST', `${base}/invocation/${id}/error`,
                 JSON.stringify({errorMessage: 'asked to fail', errorType: 'HandlerError',
                                 stackTrace: ['handler.js:1']}),
                 {'Lambda-Runtime-Function-Error-Type': 'HandlerError'});
      continue;
    }
    let probe = null;
    if (event.probe) {  // the Runtime API's refusals, from inside
      const wrong = await call('POST', `${base}/invocation/not-${id}/response`, '{}');
      const early = await call('GET', base + '/invocation/next');
      probe = {wrongId: {status: wrong.status, body: JSON.parse(wrong.body)},
               earlyNext: {status: early.status, body: JSON.parse(early.body)}};
    }
    const env = {};
    for (const k of picked) env[k] = process.env[k];
    const out = {event, handled: true, count, id, hostname: os.hostname(), env,
                 deadline: Number(next.headers['lambda-runtime-deadline-ms']),
                 arn: next.headers['lambda-runtime-invoked-function-arn'],
                 trace: next.headers['lambda-runtime-trace-id'],
                 clientContext: next.headers['lambda-runtime-client-context'] || null,
                 cwd: process.cwd(), probe};
    const r = await call('POST', `${base}/invocation/${id}/response`, JSON.stringify(out));
    console.log(`answered ${id}: ${r.status} ${r.body}`);
  }
}
main().catch(e => { console.error('runtime failed', e); process.exit(2); });
"""


# ----------------------------------------------------------------------------- images


def build_image(tmp: Path, base, name: str, files, cfg: dict):
    """An OCI layout: `base`'s layers plus one of `files`, with config `cfg`."""
    lo = Layout(tmp / name)
    for dg in base.layers:
        _link_blob(base.layout, lo, dg)
    layers = list(zip(base.layers, base.layer_sizes, base.diff_ids))
    layers.append(lo.add_layer(make_tar(files), level=1))
    hist = [dict(h) for h in base.config["history"] if not h.get("empty_layer")]
    hist.append(history(f"COPY {name} files"))
    info = write_image(lo, name, "latest", layers, cfg, hist, host_platform())
    lo.finish()
    return info


@pytest.fixture(scope="module")
def images(registry, client_images, test_images, tmp_path_factory):
    """The handler image (twice: version 1 and 2), and one with sockerless-agent as the
    runtime, pushed to the harness registry."""
    tmp = tmp_path_factory.mktemp("lambda-images")
    files = [d("var"), d("var/task"), f("var/task/handler.js", HANDLER_JS, 0o755)]
    out = {}
    for version in ("1", "2"):
        cfg = {"Env": [PATH_ENV, f"IMAGE_VERSION={version}"],
               "Entrypoint": ["node", "/var/task/handler.js"], "Cmd": ["app.handler"],
               "WorkingDir": "/var/task"}
        info = build_image(tmp, client_images["debian"], f"handler-v{version}", files, cfg)
        out[f"v{version}"] = registry.push(info, "lambda-handler", f"v{version}")
    if AGENT.exists():
        agent_files = [d("usr"), d("usr/local"), d("usr/local/bin"),
                       f("usr/local/bin/sockerless-agent", AGENT.read_bytes(), 0o755)]
        cfg = {"Env": [PATH_ENV], "Entrypoint": ["/usr/local/bin/sockerless-agent", "--"],
               "Cmd": ["sh", "-c", "printf '{\"got\":'; cat; printf ',\"pwd\":\"%s\"}' \"$PWD\""]}
        info = build_image(tmp, test_images["busybox"], "agent-function", agent_files, cfg)
        out["agent"] = registry.push(info, "lambda-agent", "latest")
    return out


# ----------------------------------------------------------------------------- helpers



def lam(aws_sim, validate: bool = True):
    """A boto3 Lambda client (without parameter validation: requests botocore would refuse
    itself reach the simulator)."""
    import boto3

    session = boto3.session.Session(aws_access_key_id=aws_sim.access_key,
                                    aws_secret_access_key=aws_sim.secret_key, region_name="us-east-1")
    return session.client("lambda", endpoint_url=aws_sim.endpoint,
                          config=Config(retries={"max_attempts": 1}, read_timeout=120,
                                        parameter_validation=validate))


def create(aws_sim, name: str, image: str, wait: bool = True, **extra) -> dict:
    body = {"FunctionName": name, "Role": ROLE, "PackageType": "Image", "Code": {"ImageUri": image},
            **extra}
    created = lam(aws_sim).create_function(**body)
    if wait:
        wait_active(aws_sim, name)
    return created


def config(aws_sim, name: str) -> dict:
    return lam(aws_sim).get_function_configuration(FunctionName=name)


def wait_active(aws_sim, name: str, timeout: float = 120) -> dict:
    c = wait_for(lambda: (c := config(aws_sim, name))["State"] != "Pending" and c,
                 timeout=timeout, what=f"{name} to leave Pending")
    assert c["State"] == "Active", c
    return c


def wait_updated(aws_sim, name: str, timeout: float = 120) -> dict:
    return wait_for(lambda: (c := config(aws_sim, name))["LastUpdateStatus"] != "InProgress" and c,
                    timeout=timeout, what=f"{name}'s update")


def invoke(aws_sim, name: str, event=None, **kw) -> tuple[dict, object]:
    """boto3 invoke: (the response without the stream, the payload parsed)."""
    r = lam(aws_sim).invoke(FunctionName=name, Payload=json.dumps(event if event is not None else {}), **kw)
    body = r.pop("Payload").read()
    return r, (json.loads(body) if body else None)


def names(aws_sim) -> list[str]:
    return sorted(x["FunctionName"] for x in lam(aws_sim).list_functions()["Functions"])


def log_messages(aws_sim, group: str) -> list[str]:
    logs = aws_sim.client("logs")
    return [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]


@pytest.fixture(scope="module")
def echo(aws_sim, images):
    """A function running the v1 handler image, Active."""
    create(aws_sim, "echo", images["v1"].ref, Environment={"Variables": {"GREETING": "hello"}},
           Tags={"team": "sim"})
    return "echo"


# ----------------------------------------------------------------------------- lifecycle


def test_create_get_list_and_delete_with_awscli(aws_sim, images):
    image = images["v1"]
    c = aws_sim.aws("lambda", "create-function", "--function-name", "life", "--package-type", "Image",
                    "--code", f"ImageUri={image.ref}", "--role", ROLE, "--memory-size", "256",
                    "--timeout", "30", "--description", "a life", "--architectures", "x86_64")
    assert c["FunctionName"] == "life" and c["FunctionArn"] == ARN + "life"
    assert c["State"] == "Pending" and c["StateReasonCode"] == "Creating"
    assert c["PackageType"] == "Image" and c["Role"] == ROLE and c["Version"] == "$LATEST"
    assert c["MemorySize"] == 256 and c["Timeout"] == 30 and c["Description"] == "a life"
    assert c["Architectures"] == ["x86_64"] and c["EphemeralStorage"] == {"Size": 512}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", c["LastModified"]), c
    active = wait_for(lambda: (x := aws_sim.aws("lambda", "get-function-configuration",
                                                "--function-name", "life"))["State"] != "Pending" and x,
                      timeout=120, what="life Active")
    assert active["State"] == "Active" and active["LastUpdateStatus"] == "Successful", active
    assert "StateReason" not in active
    assert active["CodeSha256"] == image.digest.split(":", 1)[1]
    got = aws_sim.aws("lambda", "get-function", "--function-name", ARN + "life")
    assert got["Configuration"]["FunctionArn"] == ARN + "life"
    assert got["Code"] == {"RepositoryType": "ECR", "ImageUri": image.ref,
                           "ResolvedImageUri": f"{image.host}/{image.repo}@{image.digest}"}
    listed = {x["FunctionName"]: x for x in aws_sim.aws("lambda", "list-functions")["Functions"]}
    assert "life" in listed and "State" not in listed["life"]
    assert listed["life"]["MemorySize"] == 256
    # By partial ARN too.
    assert aws_sim.aws("lambda", "get-function-configuration", "--function-name",
                       "123456789012:function:life")["FunctionName"] == "life"
    p = aws_sim.aws_raw("lambda", "delete-function", "--function-name", "life")
    assert p.returncode == 0, p.stderr
    with pytest.raises(AwsCliError) as e:
        aws_sim.aws("lambda", "get-function", "--function-name", "life")
    assert "ResourceNotFoundException" in e.value.stderr
    assert f"Function not found: {ARN}life" in e.value.stderr
    assert "life" not in names(aws_sim)


def test_list_functions_pages_with_marker(aws_sim, images):
    for n in ("page-a", "page-b", "page-c"):
        create(aws_sim, n, images["v1"].ref, wait=False)
    client = lam(aws_sim)
    first = client.list_functions(MaxItems=2)
    assert len(first["Functions"]) == 2 and "NextMarker" in first
    seen = [x["FunctionName"] for x in first["Functions"]]
    marker = first["NextMarker"]
    while marker:
        page = client.list_functions(MaxItems=2, Marker=marker)
        seen += [x["FunctionName"] for x in page["Functions"]]
        marker = page.get("NextMarker")
    assert seen == sorted(seen) and {"page-a", "page-b", "page-c"} <= set(seen)
    assert len(seen) == len(set(seen))
    # awscli's paginator walks the pages itself.
    walked = aws_sim.aws("lambda", "list-functions", "--page-size", "1")["Functions"]
    assert [x["FunctionName"] for x in walked] == seen
    for n in ("page-a", "page-b", "page-c"):
        wait_for(lambda: config(aws_sim, n)["State"] != "Pending", what=f"{n} settled")
        client.delete_function(FunctionName=n)


# ----------------------------------------------------------------------------- invocations


def test_invoke_payload_in_and_out_with_awscli(aws_sim, echo, tmp_path):
    out = tmp_path / "out.json"
    r = aws_sim.aws("lambda", "invoke", "--function-name", echo,
                    "--payload", json.dumps({"name": "sim", "n": 7}), str(out))
    assert r["StatusCode"] == 200 and r["ExecutedVersion"] == "$LATEST" and "FunctionError" not in r
    answer = json.loads(out.read_text())
    assert answer["event"] == {"name": "sim", "n": 7} and answer["handled"] is True
    env = answer["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "echo"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/echo"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", env["AWS_LAMBDA_LOG_STREAM_NAME"])
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["_HANDLER"] == "app.handler" and env["LAMBDA_TASK_ROOT"] == "/var/task"
    assert env["AWS_LAMBDA_RUNTIME_API"] == f"{aws_sim.gateway}:{aws_sim.port}"
    assert env["GREETING"] == "hello" and env["IMAGE_VERSION"] == "1"
    assert answer["arn"] == ARN + "echo"
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0", answer["trace"])
    assert answer["cwd"] == "/var/task"
    # The deadline is the function's 3 s timeout away.
    assert 0 < answer["deadline"] - time.time() * 1000 <= 3500


def test_invoke_request_id_client_context_and_function_name_forms(aws_sim, echo):
    ctx = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    r, answer = invoke(aws_sim, ARN + echo, {"x": 1}, ClientContext=ctx)
    assert answer["id"] == r["ResponseMetadata"]["RequestId"]
    assert json.loads(answer["clientContext"]) == {"custom": {"k": "v"}}
    r, answer = invoke(aws_sim, echo + ":$LATEST", {"x": 2})
    assert answer["event"] == {"x": 2}
    r, answer = invoke(aws_sim, echo, {"x": 3}, Qualifier="$LATEST")
    assert answer["event"] == {"x": 3}


def test_runtime_api_refusals(aws_sim, echo):
    _, answer = invoke(aws_sim, echo, {"probe": True})
    assert answer["probe"]["wrongId"] == {
        "status": 400, "body": {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}}
    assert answer["probe"]["earlyNext"]["status"] == 403
    assert answer["probe"]["earlyNext"]["body"]["errorType"] == "InvalidStateTransition"
    # Only a function's environment may call it: not this host.
    import urllib.error
    import urllib.request
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{aws_sim.endpoint}/2018-06-01/runtime/invocation/next", timeout=30)
    assert e.value.code == 403
    assert "not a Lambda function's execution environment" in json.loads(e.value.read())["errorMessage"]


def test_warm_container_is_reused(aws_sim, echo):
    _, first = invoke(aws_sim, echo, {"i": 1})
    _, second = invoke(aws_sim, echo, {"i": 2})
    assert second["hostname"] == first["hostname"]
    assert second["count"] == first["count"] + 1


def test_concurrent_invocations_get_containers_of_their_own(aws_sim, echo):
    results = []

    def run(i):
        results.append(invoke(aws_sim, echo, {"sleep": 1.5, "i": i})[1])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and all(r["handled"] for r in results)
    assert results[0]["hostname"] != results[1]["hostname"]
    # Both stay warm: the next two sequential calls land on one of them.
    _, again = invoke(aws_sim, echo, {})
    assert again["hostname"] in {r["hostname"] for r in results}


def test_handler_error_is_unhandled_function_error(aws_sim, echo, tmp_path):
    out = tmp_path / "err.json"
    r = aws_sim.aws("lambda", "invoke", "--function-name", echo,
                    "--payload", '{"fail": true}', str(out))
    assert r["StatusCode"] == 200 and r["FunctionError"] == "Unhandled"
    assert json.loads(out.read_text()) == {"errorMessage": "asked to fail", "errorType": "HandlerError",
                                           "stackTrace": ["handler.js:1"]}
    # The environment survives a handled error and serves the next call.
    _, answer = invoke(aws_sim, echo, {"after": "error"})
    assert answer["handled"] is True


def test_log_type_tail_has_the_invocation_log(aws_sim, echo):
    r, answer = invoke(aws_sim, echo, {"lines": 3}, LogType="Tail")
    rid = r["ResponseMetadata"]["RequestId"]
    tail = base64.b64decode(r["LogResult"]).decode()
    assert f"START RequestId: {rid} Version: $LATEST\n" in tail
    assert f"handling {rid} " in tail
    for i in range(3):
        assert f"line {i} of {rid}\n" in tail
    assert f"END RequestId: {rid}\n" in tail
    report = re.search(rf"REPORT RequestId: {rid}\tDuration: (\d+\.\d\d) ms\tBilled Duration: (\d+) ms\t"
                       r"Memory Size: 128 MB\tMax Memory Used: (\d+) MB\t", tail)
    assert report, tail
    assert 0 < int(report.group(3)) <= 128
    assert tail.index("START") < tail.index("line 0") < tail.index("END") < tail.index("REPORT")
    # Only this invocation's lines.
    assert tail.count("START RequestId") == 1
    # awscli shows it as LogResult.
    p = aws_sim.aws("lambda", "invoke", "--function-name", echo, "--log-type", "Tail", "/dev/null")
    assert "END RequestId" in base64.b64decode(p["LogResult"]).decode()


def test_log_tail_is_the_last_4_kb(aws_sim, echo):
    r, _ = invoke(aws_sim, echo, {"lines": 400}, LogType="Tail")
    tail = base64.b64decode(r["LogResult"])
    assert len(tail) == 4096
    assert tail.decode().rstrip("\n").split("\n")[-1].startswith("REPORT RequestId:")


def test_function_logs_in_cloudwatch(aws_sim, echo):
    r, answer = invoke(aws_sim, echo, {"marker": "in-cloudwatch"})
    rid = r["ResponseMetadata"]["RequestId"]
    stream = answer["env"]["AWS_LAMBDA_LOG_STREAM_NAME"]
    logs = aws_sim.client("logs")
    streams = [s["logStreamName"] for s in
               logs.describe_log_streams(logGroupName="/aws/lambda/echo")["logStreams"]]
    assert stream in streams
    events = wait_for(lambda: (ev := [e["message"] for e in logs.get_log_events(
        logGroupName="/aws/lambda/echo", logStreamName=stream, startFromHead=True)["events"]])
        and any(m.startswith(f"REPORT RequestId: {rid}") for m in ev) and ev, what="REPORT in the stream")
    start = events.index(f"START RequestId: {rid} Version: $LATEST\n")
    handling = next(i for i, m in enumerate(events) if m.startswith(f"handling {rid} "))
    end = events.index(f"END RequestId: {rid}\n")
    assert start < handling < end
    assert any(m.startswith("init echo argv=app.handler") for m in events)


def test_event_invocation_runs_asynchronously(aws_sim, echo, tmp_path):
    out = tmp_path / "event.out"
    r = aws_sim.aws("lambda", "invoke", "--function-name", echo, "--invocation-type", "Event",
                    "--payload", '{"async": "yes-42"}', str(out))
    assert r["StatusCode"] == 202 and out.read_bytes() == b""
    wait_for(lambda: any('"async":"yes-42"' in m for m in log_messages(aws_sim, "/aws/lambda/echo")),
             timeout=60, what="the Event invocation in the function's log")


def test_dry_run_runs_nothing(aws_sim, echo):
    _, before = invoke(aws_sim, echo, {})
    r = lam(aws_sim).invoke(FunctionName=echo, InvocationType="DryRun")
    assert r["StatusCode"] == 204 and r["Payload"].read() == b""
    _, after = invoke(aws_sim, echo, {})
    assert after["hostname"] == before["hostname"] and after["count"] == before["count"] + 1


def test_timeout_ends_the_container(aws_sim, images):
    create(aws_sim, "sleepy", images["v1"].ref, Timeout=2)
    _, warm = invoke(aws_sim, "sleepy", {})
    started = time.time()
    r, payload = invoke(aws_sim, "sleepy", {"sleep": 5}, LogType="Tail")
    took = time.time() - started
    rid = r["ResponseMetadata"]["RequestId"]
    assert r["StatusCode"] == 200 and r["FunctionError"] == "Unhandled"
    assert re.fullmatch(rf"\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z {rid} Task timed out after 2\.00 seconds",
                        payload["errorMessage"]), payload
    assert 2 <= took < 4.5, took
    tail = base64.b64decode(r["LogResult"]).decode()
    assert f"END RequestId: {rid}" in tail and "Status: timeout" in tail
    assert f"{rid} Task timed out after 2.00 seconds" in tail
    # The timed-out container is gone: the next call starts afresh.
    _, fresh = invoke(aws_sim, "sleepy", {})
    assert fresh["hostname"] != warm["hostname"] and fresh["count"] == 1
    lam(aws_sim).delete_function(FunctionName="sleepy")


def test_runtime_that_exits_mid_invocation(aws_sim, images):
    create(aws_sim, "exits", images["v1"].ref)
    _, warm = invoke(aws_sim, "exits", {})
    r, payload = invoke(aws_sim, "exits", {"exit": 3})
    rid = r["ResponseMetadata"]["RequestId"]
    assert r["FunctionError"] == "Unhandled"
    assert payload == {"errorType": "Runtime.ExitError",
                       "errorMessage": f"RequestId: {rid} Error: Runtime exited with error: exit status 3"}
    _, answer = invoke(aws_sim, "exits", {})
    assert answer["handled"] is True and answer["count"] == 1 and answer["hostname"] != warm["hostname"]
    lam(aws_sim).delete_function(FunctionName="exits")


def test_init_error_fails_the_invocation(aws_sim, images):
    create(aws_sim, "broken-init", images["v1"].ref, Environment={"Variables": {"INIT_FAIL": "1"}})
    r, payload = invoke(aws_sim, "broken-init", {})
    assert r["FunctionError"] == "Unhandled"
    assert payload == {"errorMessage": "init failed on purpose", "errorType": "InitBroken"}
    lam(aws_sim).delete_function(FunctionName="broken-init")


# ----------------------------------------------------------------------------- updates and tags


def test_update_configuration_and_code(aws_sim, images):
    revision = create(aws_sim, "changing", images["v1"].ref)["RevisionId"]
    _, before = invoke(aws_sim, "changing", {})
    assert "GREETING" not in before["env"] and before["env"]["IMAGE_VERSION"] == "1"
    u = aws_sim.aws("lambda", "update-function-configuration", "--function-name", "changing",
                    "--memory-size", "512", "--timeout", "10",
                    "--environment", "Variables={GREETING=bonjour}",
                    "--image-config", "Command=other.handler")
    assert u["LastUpdateStatus"] == "InProgress" and u["MemorySize"] == 512
    assert u["RevisionId"] != revision
    done = wait_updated(aws_sim, "changing")
    assert done["LastUpdateStatus"] == "Successful" and done["State"] == "Active"
    assert done["ImageConfigResponse"] == {"ImageConfig": {"Command": ["other.handler"]}}
    _, after = invoke(aws_sim, "changing", {})
    assert after["env"]["GREETING"] == "bonjour"
    assert after["env"]["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert after["env"]["_HANDLER"] == "other.handler"
    assert after["hostname"] != before["hostname"]  # a new environment for the new configuration
    assert 9000 < after["deadline"] - time.time() * 1000 <= 10500

    c = lam(aws_sim).update_function_code(FunctionName="changing", ImageUri=images["v2"].ref)
    assert c["LastUpdateStatus"] == "InProgress"
    done = wait_updated(aws_sim, "changing")
    assert done["LastUpdateStatus"] == "Successful"
    assert done["CodeSha256"] == images["v2"].digest.split(":", 1)[1]
    assert lam(aws_sim).get_function(FunctionName="changing")["Code"]["ImageUri"] == images["v2"].ref
    _, v2 = invoke(aws_sim, "changing", {})
    assert v2["env"]["IMAGE_VERSION"] == "2" and v2["env"]["GREETING"] == "bonjour"
    # A stale revision is refused.
    with pytest.raises(ClientError) as e:
        lam(aws_sim).update_function_configuration(FunctionName="changing", Description="x",
                                                   RevisionId="not-the-revision")
    assert code_of(e.value) == "PreconditionFailedException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    lam(aws_sim).delete_function(FunctionName="changing")


def test_tags(aws_sim, echo):
    arn = ARN + echo
    assert aws_sim.aws("lambda", "list-tags", "--resource", arn)["Tags"] == {"team": "sim"}
    p = aws_sim.aws_raw("lambda", "tag-resource", "--resource", arn, "--tags", "env=ci,owner=me")
    assert p.returncode == 0, p.stderr
    assert aws_sim.aws("lambda", "list-tags", "--resource", arn)["Tags"] == {
        "team": "sim", "env": "ci", "owner": "me"}
    p = aws_sim.aws_raw("lambda", "untag-resource", "--resource", arn, "--tag-keys", "team", "owner")
    assert p.returncode == 0, p.stderr
    assert lam(aws_sim).list_tags(Resource=arn)["Tags"] == {"env": "ci"}
    assert lam(aws_sim).get_function(FunctionName=echo)["Tags"] == {"env": "ci"}
    with pytest.raises(ClientError) as e:
        lam(aws_sim).list_tags(Resource=ARN + "nope")
    assert code_of(e.value) == "ResourceNotFoundException"


# ----------------------------------------------------------------------------- bad input


def test_bad_input_is_refused_and_changes_nothing(aws_sim, images, echo):
    client = lam(aws_sim)
    raw = lam(aws_sim, validate=False)
    before = names(aws_sim)
    image = {"ImageUri": images["v1"].ref}

    def refused(call, code, status, text=None, **kw):
        with pytest.raises(ClientError) as e:
            call(**kw)
        assert code_of(e.value) == code, e.value.response
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
        if text:
            assert text in e.value.response["Error"]["Message"], e.value.response
        return e.value

    refused(raw.create_function, "ValidationException", 400, "at 'role'",
            FunctionName="bad", PackageType="Image", Code=image)
    refused(client.create_function, "ValidationException", 400, "regular expression pattern",
            FunctionName="bad", PackageType="Image", Code=image, Role="not-a-role")
    refused(client.create_function, "ValidationException", 400, "less than or equal to 10240",
            FunctionName="bad", PackageType="Image", Code=image, Role=ROLE, MemorySize=20000)
    refused(client.create_function, "ValidationException", 400, "less than or equal to 900",
            FunctionName="bad", PackageType="Image", Code=image, Role=ROLE, Timeout=901)
    refused(client.create_function, "InvalidParameterValueException", 400, "Zip",
            FunctionName="bad", Code={"ZipFile": b"PK\x03\x04"}, Role=ROLE, Runtime="python3.12",
            Handler="app.handler")
    refused(client.create_function, "InvalidParameterValueException", 400, "reserved keys",
            FunctionName="bad", PackageType="Image", Code=image, Role=ROLE,
            Environment={"Variables": {"AWS_REGION": "eu-west-1"}})
    refused(client.create_function, "ValidationException", 400, "functionName",
            FunctionName="bad name!", PackageType="Image", Code=image, Role=ROLE)
    refused(client.create_function, "ResourceConflictException", 409, "Function already exist: echo",
            FunctionName="echo", PackageType="Image", Code=image, Role=ROLE)
    missing = f"Function not found: {ARN}nope"
    refused(client.get_function, "ResourceNotFoundException", 404, missing, FunctionName="nope")
    refused(client.get_function_configuration, "ResourceNotFoundException", 404, missing, FunctionName="nope")
    refused(client.invoke, "ResourceNotFoundException", 404, missing, FunctionName="nope")
    refused(client.delete_function, "ResourceNotFoundException", 404, missing, FunctionName="nope")
    refused(client.update_function_configuration, "ResourceNotFoundException", 404, missing,
            FunctionName="nope", Timeout=5)
    refused(client.get_function, "ResourceNotFoundException", 404, f"{ARN}echo:7",
            FunctionName="echo", Qualifier="7")
    refused(client.invoke, "InvalidRequestContentException", 400, "Could not parse request body into json",
            FunctionName="echo", Payload=b"{not json")
    refused(raw.update_function_configuration, "ValidationException", 400, "greater than or equal to 128",
            FunctionName="echo", MemorySize=64)
    refused(client.tag_resource, "ResourceNotFoundException", 404, None, Resource=ARN + "nope", Tags={"a": "b"})
    assert names(aws_sim) == before
    c = config(aws_sim, "echo")
    assert c["MemorySize"] == 128 and c["Environment"] == {"Variables": {"GREETING": "hello"}}


def test_image_that_cannot_be_pulled_fails_the_function(aws_sim, registry):
    create(aws_sim, "no-image", f"{registry.host}/does-not-exist:latest", wait=False)
    c = wait_for(lambda: (x := config(aws_sim, "no-image"))["State"] != "Pending" and x,
                 timeout=60, what="no-image to fail")
    assert c["State"] == "Failed" and c["StateReasonCode"] in ("InvalidImage", "ImageAccessDenied")
    assert "does-not-exist" in c["StateReason"] and c["LastUpdateStatus"] == "Failed"
    with pytest.raises(ClientError) as e:
        invoke(aws_sim, "no-image", {})
    assert code_of(e.value) == "ResourceConflictException"
    assert "following state: Failed" in e.value.response["Error"]["Message"]
    lam(aws_sim).delete_function(FunctionName="no-image")


def test_pending_function_cannot_be_invoked_or_updated(aws_sim, images):
    create(aws_sim, "pending", images["v1"].ref, wait=False)
    c = config(aws_sim, "pending")
    if c["State"] != "Pending":
        lam(aws_sim).delete_function(FunctionName="pending")
        pytest.skip("the function was Active before it could be checked while Pending")
    with pytest.raises(ClientError) as e:
        lam(aws_sim).update_function_configuration(FunctionName="pending", Timeout=9)
    assert code_of(e.value) == "ResourceConflictException"
    wait_active(aws_sim, "pending")
    lam(aws_sim).delete_function(FunctionName="pending")


# ----------------------------------------------------------------------------- ECR


def test_function_from_the_simulators_ecr(aws_sim, images, client_images, tmp_path):
    aws_sim.aws("ecr", "create-repository", "--repository-name", "fn")
    token = aws_sim.aws("ecr", "get-authorization-token")["authorizationData"][0]
    user, password = base64.b64decode(token["authorizationToken"]).decode().split(":", 1)
    cfg = {"Env": [PATH_ENV, "IMAGE_VERSION=ecr"], "Entrypoint": ["node", "/var/task/handler.js"],
           "Cmd": ["app.handler"]}
    files = [d("var"), d("var/task"), f("var/task/handler.js", HANDLER_JS, 0o755)]
    info = build_image(tmp_path, client_images["debian"], "ecr-handler", files, cfg)
    subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", "--format", "v2s2", "--dest-tls-verify=false",
                    "--dest-creds", f"{user}:{password}", info.oci_ref, f"docker://{aws_sim.host}/fn:v1"],
                   check=True, capture_output=True, timeout=300)
    create(aws_sim, "from-ecr", f"{aws_sim.host}/fn:v1")
    _, answer = invoke(aws_sim, "from-ecr", {"via": "ecr"})
    assert answer["env"]["IMAGE_VERSION"] == "ecr"
    # A tag or repository ECR does not have is refused at once.
    for uri in (f"{aws_sim.host}/fn:missing", f"{aws_sim.host}/no-such-repo:v1"):
        with pytest.raises(ClientError) as e:
            create(aws_sim, "ecr-missing", uri, wait=False)
        assert code_of(e.value) == "InvalidParameterValueException"
        assert f"Source image {uri} does not exist" in e.value.response["Error"]["Message"]
    assert "ecr-missing" not in names(aws_sim)
    lam(aws_sim).delete_function(FunctionName="from-ecr")


# ----------------------------------------------------------------------------- sockerless-agent


def test_sockerless_agent_as_the_functions_runtime(aws_sim, images):
    assert "agent" in images, f"{AGENT} is not built (ninja -C build sockerless-agent)"
    create(aws_sim, "agent-fn", images["agent"].ref)
    r, answer = invoke(aws_sim, "agent-fn", {"hello": "agent"})
    assert "FunctionError" not in r
    assert answer == {"got": {"hello": "agent"}, "pwd": "/"}
    # A second invocation runs the command again in the same (warm) agent.
    r, answer = invoke(aws_sim, "agent-fn", {"n": 2}, LogType="Tail")
    assert answer["got"] == {"n": 2}
    assert "REPORT RequestId" in base64.b64decode(r["LogResult"]).decode()
    # A failing command is the function's error.
    lam(aws_sim).update_function_configuration(
        FunctionName="agent-fn", ImageConfig={"Command": ["sh", "-c", "cat >/dev/null; echo broken >&2; exit 3"]})
    wait_updated(aws_sim, "agent-fn")
    r, payload = invoke(aws_sim, "agent-fn", {})
    assert r["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Sockerless.ExitCode.3" and payload["exitCode"] == 3
    assert "broken" in payload["errorMessage"]
    lam(aws_sim).delete_function(FunctionName="agent-fn")


# ----------------------------------------------------------------------------- durability


def test_functions_survive_a_restart(sim_factory, images):
    sim = sim_factory()
    create(sim, "durable", images["v1"].ref, Tags={"keep": "me"})
    _, first = invoke(sim, "durable", {"before": True})
    sim.stop()
    sim.start()
    c = config(sim, "durable")
    assert c["State"] == "Active" and c["FunctionArn"] == ARN + "durable"
    assert lam(sim).list_tags(Resource=ARN + "durable")["Tags"] == {"keep": "me"}
    _, again = invoke(sim, "durable", {"after": True})
    assert again["event"] == {"after": True} and again["count"] == 1  # a new environment
    lam(sim).delete_function(FunctionName="durable")

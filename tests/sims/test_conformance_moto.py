"""The simulator's answers beside moto's (moto implements these APIs from the same botocore
models without running anything): the same control-plane calls go to both, and the answers'
shapes are compared. Where they differ, botocore's model decides: every field we send must
be a member of the operation's output shape with the model's type and, for enums, one of its
values; and every field moto sends that the model knows, we send too, unless it is listed
below with the reason we leave it out."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from botocore.config import Config

pytestmark = pytest.mark.timeout(300)

# Fields moto answers with that we leave out, and why.
WE_OMIT = {
    # Statistics and attachment summaries that only make sense with container instances,
    # capacity providers or services, which the simulator does not have.
    "ecs.CreateCluster": {"cluster.attachments", "cluster.attachmentsStatus", "cluster.serviceConnectDefaults"},
    "ecs.DescribeClusters": {"clusters[].attachments", "clusters[].attachmentsStatus",
                             "clusters[].serviceConnectDefaults"},
    # moto answers a task's container instance and an inferred health status; Fargate tasks
    # have no container instance.
    "ecs.RunTask": {"tasks[].containerInstanceArn", "tasks[].healthStatus", "tasks[].containers[].exitCode",
                    "tasks[].containers[].reason", "tasks[].containers[].runtimeId", "tasks[].stopCode",
                    "tasks[].stoppedReason", "tasks[].stoppingAt", "tasks[].stoppedAt", "tasks[].startedAt",
                    "tasks[].startedBy", "tasks[].containers[].imageDigest"},
    # moto runs nothing, so its tasks carry exit codes and stop reasons at once; ours have
    # them when the container has exited (StopTask answers before the stop has finished, as
    # ECS does); startedBy is only there when the caller gave one.
    "ecs.DescribeTasks": {"tasks[].containerInstanceArn", "tasks[].healthStatus", "tasks[].startedBy",
                          "tasks[].containers[].imageDigest", "tasks[].containers[].exitCode",
                          "tasks[].stoppedReason"},
    "ecs.StopTask": {"task.containers[].exitCode", "task.startedBy", "task.containerInstanceArn",
                     "task.healthStatus", "task.containers[].imageDigest"},
    "logs.DescribeLogGroups": {"logGroups[].retentionInDays", "logGroups[].dataProtectionStatus",
                               "logGroups[].inheritedProperties", "logGroups[].deletionProtectionEnabled",
                               "logGroups[].bearerTokenAuthenticationEnabled"},
    "iam.GetRole": {"Role.RoleLastUsed", "Role.PermissionsBoundary"},
    "iam.CreateRole": {"Role.RoleLastUsed", "Role.PermissionsBoundary"},
    "ec2.DescribeVpcs": {"Vpcs[].Tags", "Vpcs[].Ipv6CidrBlockAssociationSet", "Vpcs[].BlockPublicAccessStates",
                         "Vpcs[].EncryptionControl"},
    "ec2.DescribeSubnets": {"Subnets[].Tags", "Subnets[].Ipv6CidrBlockAssociationSet", "Subnets[].AssignIpv6AddressOnCreation",
                            "Subnets[].EnableDns64", "Subnets[].Ipv6Native",
                            "Subnets[].MapCustomerOwnedIpOnLaunch", "Subnets[].EnableLniAtDeviceIndex",
                            "Subnets[].BlockPublicAccessStates"},
}

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


@pytest.fixture(scope="module")
def moto_endpoint():
    from moto.server import ThreadedMotoServer
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{server._server.server_port}"
    server.stop()


def client(endpoint: str, service: str):
    return boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test",
                                 region_name="us-east-1").client(
        service, endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}))


class Recorder:
    """Keeps the raw body of each answer (before botocore's parser drops what the model does
    not know), by operation."""

    def __init__(self):
        self.raw = {}

    def attach(self, c):
        c.meta.events.register("before-parse", self.hook)

    def hook(self, operation_model, response_dict, **kw):
        self.raw[operation_model.name] = response_dict["body"]


def shape_problems(shape, value, path: str) -> list[str]:
    """What in `value` (raw JSON) the model's `shape` does not allow."""
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__}, model says structure"]
        out = []
        for k, v in value.items():
            if k not in shape.members:
                out.append(f"{path}.{k}: not in the model's {shape.name}")
            elif v is not None:
                out += shape_problems(shape.members[k], v, f"{path}.{k}")
        return out
    if t == "list":
        if not isinstance(value, list):
            return [f"{path}: {type(value).__name__}, model says list"]
        return [p for i, v in enumerate(value) for p in shape_problems(shape.member, v, f"{path}[{i}]")]
    if t == "map":
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__}, model says map"]
        return [p for k, v in value.items() for p in shape_problems(shape.value, v, f"{path}.{k}")]
    if t == "string":
        if not isinstance(value, str):
            return [f"{path}: {value!r} is not a string"]
        if shape.enum and value not in shape.enum:
            return [f"{path}: {value!r} is not one of {shape.enum}"]
        return []
    if t in ("integer", "long"):
        return [] if isinstance(value, int) and not isinstance(value, bool) else [f"{path}: {value!r} is not an integer"]
    if t in ("float", "double"):
        return [] if isinstance(value, (int, float)) and not isinstance(value, bool) else [f"{path}: {value!r} not a number"]
    if t == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: {value!r} is not a boolean"]
    if t == "timestamp":
        return [] if isinstance(value, (int, float, str)) and not isinstance(value, bool) else [f"{path}: bad timestamp"]
    return []


def key_paths(value, path: str = "") -> set[str]:
    """Field paths of a parsed answer, lists written as []."""
    out = set()
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "ResponseMetadata":
                continue
            p = f"{path}.{k}" if path else k
            out.add(p)
            out |= key_paths(v, p)
    elif isinstance(value, list):
        for v in value:
            out |= key_paths(v, f"{path}[]")
    return out


def scenario(endpoint: str, rec: Recorder) -> dict:
    """The same calls, in the same order, against one endpoint; parsed answers by name."""
    ecs, logs, iam, ec2, sts = (client(endpoint, s) for s in ("ecs", "logs", "iam", "ec2", "sts"))
    for c in (ecs, logs, iam, ec2, sts):
        rec.attach(c)
    out = {}
    out["sts.GetCallerIdentity"] = sts.get_caller_identity()
    out["iam.CreateRole"] = iam.create_role(RoleName="conf-exec", AssumeRolePolicyDocument=TRUST)
    out["iam.GetRole"] = iam.get_role(RoleName="conf-exec")
    out["ec2.DescribeVpcs"] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])
    vpc = out["ec2.DescribeVpcs"]["Vpcs"][0]["VpcId"]
    out["ec2.DescribeSubnets"] = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])
    subnet = out["ec2.DescribeSubnets"]["Subnets"][0]["SubnetId"]
    out["ec2.DescribeSecurityGroups"] = ec2.describe_security_groups(GroupNames=["default"])
    sg = out["ec2.DescribeSecurityGroups"]["SecurityGroups"][0]["GroupId"]
    out["ecs.CreateCluster"] = ecs.create_cluster(clusterName="conf")
    out["ecs.DescribeClusters"] = ecs.describe_clusters(clusters=["conf"])
    out["ecs.ListClusters"] = ecs.list_clusters()
    out["ecs.RegisterTaskDefinition"] = ecs.register_task_definition(
        family="conf", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        executionRoleArn=out["iam.CreateRole"]["Role"]["Arn"],
        containerDefinitions=[{"name": "main", "image": IMAGE, "memory": 512, "essential": True,
                               "command": ["sh", "-c", "sleep 30"]}])
    out["ecs.DescribeTaskDefinition"] = ecs.describe_task_definition(taskDefinition="conf")
    out["ecs.ListTaskDefinitions"] = ecs.list_task_definitions(familyPrefix="conf")
    out["ecs.RunTask"] = ecs.run_task(
        cluster="conf", taskDefinition="conf", launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg]}})
    arn = out["ecs.RunTask"]["tasks"][0]["taskArn"]
    out["ecs.ListTasks"] = ecs.list_tasks(cluster="conf")
    out["ecs.DescribeTasks"] = ecs.describe_tasks(cluster="conf", tasks=[arn])
    out["ecs.StopTask"] = ecs.stop_task(cluster="conf", task=arn, reason="conformance")
    out["logs.CreateLogGroup"] = logs.create_log_group(logGroupName="/conf")
    out["logs.DescribeLogGroups"] = logs.describe_log_groups(logGroupNamePrefix="/conf")
    logs.create_log_stream(logGroupName="/conf", logStreamName="s")
    out["logs.PutLogEvents"] = logs.put_log_events(
        logGroupName="/conf", logStreamName="s", logEvents=[{"timestamp": int(time.time() * 1000), "message": "m"}])
    out["logs.GetLogEvents"] = logs.get_log_events(logGroupName="/conf", logStreamName="s", startFromHead=True)
    out["logs.DescribeLogStreams"] = logs.describe_log_streams(logGroupName="/conf")
    return out


IMAGE = "busybox"


def test_answers_have_moto_shapes_and_the_model_decides(aws_sim, moto_endpoint, registry):
    global IMAGE
    IMAGE = f"{registry.host}/busybox:latest"
    ours_rec, moto_rec = Recorder(), Recorder()
    ours = scenario(aws_sim.endpoint, ours_rec)
    theirs = scenario(moto_endpoint, moto_rec)
    problems = []
    # Our raw JSON answers against the model.
    session = boto3.session.Session(region_name="us-east-1")
    for key in ours:
        service, op = key.split(".")
        model = session.client(service, endpoint_url=aws_sim.endpoint, aws_access_key_id="x",
                               aws_secret_access_key="x").meta.service_model
        om = model.operation_model(op)
        if model.protocol == "json" and om.output_shape is not None:
            raw = ours_rec.raw.get(op) or b"{}"
            problems += shape_problems(om.output_shape, json.loads(raw or b"{}"), key)
        # Fields moto sends that the model knows: we send them too, or say why not.
        missing = key_paths(theirs[key]) - key_paths(ours[key])
        missing = {m for m in missing if m not in WE_OMIT.get(key, set())}
        if missing:
            problems.append(f"{key}: moto answers {sorted(missing)}, we do not")
        # And the types of fields both send agree.
        for path in key_paths(theirs[key]) & key_paths(ours[key]):
            a, b = lookup(ours[key], path), lookup(theirs[key], path)
            if a and b and type(a[0]).__name__ != type(b[0]).__name__:
                problems.append(f"{key}.{path}: ours {type(a[0]).__name__}, moto's {type(b[0]).__name__}")
    assert not problems, "\n".join(problems)


def lookup(value, path: str) -> list:
    """Every value at a path written as key_paths writes it."""
    items = [value]
    for part in path.split("."):
        listy = part.endswith("[]")
        part = part.removesuffix("[]")
        nxt = []
        for it in items:
            if isinstance(it, dict) and part in it:
                v = it[part]
                nxt += v if listy and isinstance(v, list) else [v]
        items = nxt
    return items

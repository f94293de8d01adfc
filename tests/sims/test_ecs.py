"""ECS on the AWS simulator, judged by awscli and boto3: clusters, task definitions, tasks
that really run (exit codes, logs, shared localhost, ENI addresses, stop timeouts), tags and
the errors AWS answers bad input with."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from conftest import AwsCliError, wait_for, code_of, default_subnet

EXEC_ROLE = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
# awscli starts slowly (a second or more a call on a busy machine): generous budgets.
pytestmark = pytest.mark.timeout(180)



@pytest.fixture(scope="module")
def busybox_ref(registry):
    return f"{registry.host}/busybox:latest"


@pytest.fixture(scope="module")
def subnet(aws_sim) -> str:
    """The default VPC's first default subnet, as a backend would find it."""
    subnets = aws_sim.aws("ec2", "describe-subnets", "--filters", "Name=default-for-az,Values=true")["Subnets"]
    assert len(subnets) == 3 and all(s["VpcId"] == subnets[0]["VpcId"] for s in subnets)
    return sorted(subnets, key=lambda s: s["AvailabilityZone"])[0]["SubnetId"]


@pytest.fixture(scope="module")
def cluster(aws_sim, subnet):
    aws_sim.aws("ecs", "create-cluster", "--cluster-name", "sim-tests")
    return "sim-tests"


def register(aws_sim, family: str, containers: list[dict], **extra) -> dict:
    body = {"family": family, "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
            "cpu": "256", "memory": "512", "executionRoleArn": EXEC_ROLE,
            "containerDefinitions": containers, **extra}
    ecs = aws_sim.client("ecs")
    return ecs.register_task_definition(**body)["taskDefinition"]



def run_task(aws_sim, cluster: str, td_arn: str, **extra) -> dict:
    ecs = aws_sim.client("ecs")
    r = ecs.run_task(cluster=cluster, taskDefinition=td_arn, launchType="FARGATE",
                     networkConfiguration={"awsvpcConfiguration": {"subnets": [default_subnet(aws_sim)]}}, **extra)
    assert r["failures"] == [], r
    return r["tasks"][0]


def describe(aws_sim, cluster: str, task_arn: str) -> dict:
    r = aws_sim.client("ecs").describe_tasks(cluster=cluster, tasks=[task_arn])
    assert r["failures"] == [], r
    return r["tasks"][0]


def wait_status(aws_sim, cluster, task_arn, status, timeout=90) -> dict:
    return wait_for(lambda: (t := describe(aws_sim, cluster, task_arn))["lastStatus"] == status and t,
                    timeout=timeout, what=f"task {task_arn} {status}")


# ----------------------------------------------------------------------------- clusters


def test_clusters_lifecycle_with_awscli(aws_sim):
    c = aws_sim.aws("ecs", "create-cluster", "--cluster-name", "life", "--tags", "key=team,value=ci")["cluster"]
    assert c["clusterArn"] == "arn:aws:ecs:us-east-1:123456789012:cluster/life"
    assert c["status"] == "ACTIVE" and c["runningTasksCount"] == 0
    assert c["clusterArn"] in aws_sim.aws("ecs", "list-clusters")["clusterArns"]
    d = aws_sim.aws("ecs", "describe-clusters", "--clusters", "life", "missing", "--include", "TAGS")
    assert [x["clusterName"] for x in d["clusters"]] == ["life"]
    assert d["clusters"][0]["tags"] == [{"key": "team", "value": "ci"}]
    assert d["failures"] == [{"arn": "arn:aws:ecs:us-east-1:123456789012:cluster/missing", "reason": "MISSING"}]
    gone = aws_sim.aws("ecs", "delete-cluster", "--cluster", "life")["cluster"]
    assert gone["status"] == "INACTIVE"
    assert c["clusterArn"] not in aws_sim.aws("ecs", "list-clusters")["clusterArns"]
    with pytest.raises(AwsCliError) as e:
        aws_sim.aws("ecs", "delete-cluster", "--cluster", "life")
    assert "ClusterNotFoundException" in e.value.stderr


def test_list_clusters_pages(aws_sim):
    ecs = aws_sim.client("ecs")
    for i in range(5):
        ecs.create_cluster(clusterName=f"page-{i}")
    pages = list(ecs.get_paginator("list_clusters").paginate(PaginationConfig={"PageSize": 2}))
    arns = [a for p in pages for a in p["clusterArns"]]
    assert [a for a in arns if "/page-" in a] == [f"arn:aws:ecs:us-east-1:123456789012:cluster/page-{i}" for i in range(5)]
    assert len(pages) >= 3
    with pytest.raises(ClientError) as e:
        ecs.list_clusters(nextToken="garbage")
    assert code_of(e.value) == "InvalidParameterException"


# ----------------------------------------------------------------------------- task definitions


def test_task_definition_revisions(aws_sim, busybox_ref):
    ecs = aws_sim.client("ecs")
    c = [{"name": "main", "image": busybox_ref, "essential": True}]
    one = register(aws_sim, "revs", c)
    two = register(aws_sim, "revs", c, tags=[{"key": "k", "value": "v"}])
    assert (one["revision"], two["revision"]) == (1, 2)
    assert two["taskDefinitionArn"].endswith(":task-definition/revs:2")
    assert two["status"] == "ACTIVE" and "FARGATE" in two["compatibilities"]
    latest = ecs.describe_task_definition(taskDefinition="revs", include=["TAGS"])
    assert latest["taskDefinition"]["revision"] == 2 and latest["tags"] == [{"key": "k", "value": "v"}]
    assert aws_sim.aws("ecs", "list-task-definitions", "--family-prefix", "revs")["taskDefinitionArns"] == [
        one["taskDefinitionArn"], two["taskDefinitionArn"]]
    assert "revs" in aws_sim.aws("ecs", "list-task-definition-families")["families"]
    gone = ecs.deregister_task_definition(taskDefinition="revs:2")["taskDefinition"]
    assert gone["status"] == "INACTIVE"
    assert ecs.describe_task_definition(taskDefinition="revs")["taskDefinition"]["revision"] == 1
    assert ecs.list_task_definitions(familyPrefix="revs", status="INACTIVE")["taskDefinitionArns"] == [
        two["taskDefinitionArn"]]


@pytest.mark.parametrize("body, code, words", [
    ({"family": "bad", "containerDefinitions": []}, "ClientException", "at least one container"),
    ({"family": "bad", "containerDefinitions": [{"name": "x"}]}, "ClientException", "image"),
    ({"family": "bad", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256",
      "memory": "4096", "containerDefinitions": [{"name": "x", "image": "busybox"}]},
     "ClientException", "No Fargate configuration exists"),
    ({"family": "bad", "requiresCompatibilities": ["FARGATE"], "networkMode": "bridge", "cpu": "256",
      "memory": "512", "containerDefinitions": [{"name": "x", "image": "busybox"}]},
     "ClientException", "awsvpc"),
    ({"family": "bad!", "containerDefinitions": [{"name": "x", "image": "busybox"}]}, "ClientException", "Family"),
])
def test_register_task_definition_refuses_bad_input(aws_sim, body, code, words):
    ecs = aws_sim.client("ecs")
    with pytest.raises(ClientError) as e:
        ecs.register_task_definition(**body)
    assert code_of(e.value) == code and words in e.value.response["Error"]["Message"]
    fams = ecs.list_task_definition_families(status="ALL")["families"]
    assert "bad" not in fams and "bad!" not in fams


# ----------------------------------------------------------------------------- tasks


@pytest.mark.timeout(180)
def test_task_exit_code_and_output(aws_sim, cluster, busybox_ref):
    aws_sim.client("logs").create_log_group(logGroupName="/ecs/exit")
    td = register(aws_sim, "exit3", [{
        "name": "main", "image": busybox_ref, "essential": True,
        "command": ["sh", "-c", "echo hi; echo oops >&2; exit 3"],
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": "/ecs/exit", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}}}])
    started = run_task(aws_sim, cluster, td["taskDefinitionArn"])
    assert started["lastStatus"] == "PROVISIONING" and started["desiredStatus"] == "RUNNING"
    t = wait_status(aws_sim, cluster, started["taskArn"], "STOPPED")
    main = t["containers"][0]
    assert main["exitCode"] == 3 and main["lastStatus"] == "STOPPED"
    assert t["stopCode"] == "EssentialContainerExited"
    assert t["stoppedReason"] == "Essential container in task exited"
    assert t["desiredStatus"] == "STOPPED" and t["stoppedAt"] >= t["startedAt"] >= t["createdAt"]
    task_id = t["taskArn"].rsplit("/", 1)[1]
    events = aws_sim.aws("logs", "get-log-events", "--log-group-name", "/ecs/exit",
                         "--log-stream-name", f"ecs/main/{task_id}", "--start-from-head")["events"]
    assert sorted(e["message"] for e in events) == ["hi", "oops"]


@pytest.mark.timeout(180)
def test_containers_of_a_task_share_localhost(aws_sim, cluster, busybox_ref):
    td = register(aws_sim, "pair", [
        # httpd as PID 1 ignores SIGTERM (as under Docker): a short stopTimeout ends it soon
        {"name": "web", "image": busybox_ref, "essential": False, "stopTimeout": 2,
         "command": ["sh", "-c", "mkdir /www && echo served > /www/index.html && exec httpd -f -p 8080 -h /www"]},
        {"name": "probe", "image": busybox_ref, "essential": True,
         "dependsOn": [{"containerName": "web", "condition": "START"}],
         "command": ["sh", "-c", "for i in $(seq 50); do out=$(wget -qO- http://127.0.0.1:8080/) && "
                                 "[ \"$out\" = served ] && exit 0; sleep 0.2; done; exit 9"]},
    ])
    t = run_task(aws_sim, cluster, td["taskDefinitionArn"])
    t = wait_status(aws_sim, cluster, t["taskArn"], "STOPPED")
    by_name = {c["name"]: c for c in t["containers"]}
    assert by_name["probe"]["exitCode"] == 0, t
    # the web server was stopped with the task once the essential probe ended
    assert by_name["web"]["lastStatus"] == "STOPPED"


@pytest.mark.timeout(180)
def test_tasks_reach_each_other_by_eni_address(aws_sim, cluster, busybox_ref):
    server = register(aws_sim, "server", [{
        "name": "web", "image": busybox_ref, "stopTimeout": 2,
        "command": ["sh", "-c", "mkdir /www && echo from-server > /www/index.html && exec httpd -f -p 8080 -h /www"]}])
    s = run_task(aws_sim, cluster, server["taskDefinitionArn"])
    s = wait_status(aws_sim, cluster, s["taskArn"], "RUNNING")
    details = {d["name"]: d["value"] for d in s["attachments"][0]["details"]}
    ip = details["privateIPv4Address"]
    assert s["containers"][0]["networkInterfaces"][0]["privateIpv4Address"] == ip
    assert details["networkInterfaceId"].startswith("eni-") and details["subnetId"] == default_subnet(aws_sim)
    client = register(aws_sim, "client", [{
        "name": "get", "image": busybox_ref,
        "command": ["sh", "-c", f"for i in $(seq 50); do wget -qO- http://{ip}:8080/ && exit 0; sleep 0.2; done; exit 9"]}])
    c = run_task(aws_sim, cluster, client["taskDefinitionArn"])
    c = wait_status(aws_sim, cluster, c["taskArn"], "STOPPED")
    assert c["containers"][0]["exitCode"] == 0, c
    # and the host reaches the task at that address too
    import urllib.request
    assert urllib.request.urlopen(f"http://{ip}:8080/", timeout=10).read() == b"from-server\n"
    stopped = aws_sim.client("ecs").stop_task(cluster=cluster, task=s["taskArn"], reason="done here")["task"]
    assert stopped["desiredStatus"] == "STOPPED"
    s = wait_status(aws_sim, cluster, s["taskArn"], "STOPPED")
    assert s["stopCode"] == "UserInitiated" and s["stoppedReason"] == "done here"


@pytest.mark.timeout(180)
def test_stop_task_kills_after_stop_timeout(aws_sim, cluster, busybox_ref):
    td = register(aws_sim, "stubborn", [{
        "name": "main", "image": busybox_ref, "stopTimeout": 3,
        "command": ["sh", "-c", "trap '' TERM; while :; do sleep 1; done"]}])
    t = run_task(aws_sim, cluster, td["taskDefinitionArn"])
    wait_status(aws_sim, cluster, t["taskArn"], "RUNNING")
    assert t["taskArn"] in aws_sim.aws("ecs", "list-tasks", "--cluster", cluster)["taskArns"]
    began = time.monotonic()
    aws_sim.aws("ecs", "stop-task", "--cluster", cluster, "--task", t["taskArn"])
    t = wait_status(aws_sim, cluster, t["taskArn"], "STOPPED")
    took = time.monotonic() - began
    assert 2.5 <= took < 30, took
    assert t["containers"][0]["exitCode"] == 137
    assert t["stopCode"] == "UserInitiated"
    assert t["taskArn"] not in aws_sim.aws("ecs", "list-tasks", "--cluster", cluster)["taskArns"]
    assert t["taskArn"] in aws_sim.aws("ecs", "list-tasks", "--cluster", cluster,
                                       "--desired-status", "STOPPED")["taskArns"]


@pytest.mark.timeout(180)
def test_missing_image_fails_the_task(aws_sim, cluster, registry):
    td = register(aws_sim, "noimage", [{"name": "main", "image": f"{registry.host}/no-such-image:1"}])
    t = run_task(aws_sim, cluster, td["taskDefinitionArn"])
    t = wait_status(aws_sim, cluster, t["taskArn"], "STOPPED")
    assert t["stopCode"] == "TaskFailedToStart"
    assert t["containers"][0]["reason"].startswith("CannotPullContainerError"), t
    assert t["stoppedReason"].startswith("CannotPullContainerError"), t


@pytest.mark.timeout(180)
def test_overrides_and_tags(aws_sim, cluster, busybox_ref):
    aws_sim.client("logs").create_log_group(logGroupName="/ecs/over")
    td = register(aws_sim, "over", [{
        "name": "main", "image": busybox_ref, "command": ["false"],
        "environment": [{"name": "A", "value": "from-definition"}],
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": "/ecs/over", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "p"}}}],
        tags=[{"key": "from", "value": "taskdef"}])
    ecs = aws_sim.client("ecs")
    t = run_task(aws_sim, cluster, td["taskDefinitionArn"], propagateTags="TASK_DEFINITION",
                 tags=[{"key": "run", "value": "1"}],
                 overrides={"containerOverrides": [{"name": "main", "command": ["sh", "-c", "echo $A $B; exit 0"],
                                                    "environment": [{"name": "B", "value": "override"}]}]})
    t = wait_status(aws_sim, cluster, t["taskArn"], "STOPPED")
    assert t["containers"][0]["exitCode"] == 0
    events = aws_sim.client("logs").get_log_events(
        logGroupName="/ecs/over", logStreamName=f"p/main/{t['taskArn'].rsplit('/', 1)[1]}", startFromHead=True)
    assert [e["message"] for e in events["events"]] == ["from-definition override"]
    tags = ecs.list_tags_for_resource(resourceArn=t["taskArn"])["tags"]
    assert sorted((x["key"], x["value"]) for x in tags) == [("from", "taskdef"), ("run", "1")]
    ecs.tag_resource(resourceArn=t["taskArn"], tags=[{"key": "more", "value": "x"}])
    ecs.untag_resource(resourceArn=t["taskArn"], tagKeys=["run"])
    tags = ecs.list_tags_for_resource(resourceArn=t["taskArn"])["tags"]
    assert sorted(x["key"] for x in tags) == ["from", "more"]


def test_run_task_refuses_bad_input(aws_sim, cluster, subnet, busybox_ref):
    ecs = aws_sim.client("ecs")
    td = register(aws_sim, "refuse", [{"name": "main", "image": busybox_ref}])
    before = ecs.list_tasks(cluster=cluster, desiredStatus="STOPPED")["taskArns"] + \
        ecs.list_tasks(cluster=cluster)["taskArns"]
    with pytest.raises(ClientError) as e:
        ecs.run_task(cluster="nope", taskDefinition=td["taskDefinitionArn"],
                     networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet]}})
    assert code_of(e.value) == "ClusterNotFoundException"
    with pytest.raises(ClientError) as e:
        ecs.run_task(cluster=cluster, taskDefinition=td["taskDefinitionArn"])
    assert code_of(e.value) == "InvalidParameterException" and "Network Configuration" in str(e.value)
    with pytest.raises(ClientError) as e:
        ecs.run_task(cluster=cluster, taskDefinition="never-registered",
                     networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet]}})
    assert code_of(e.value) == "ClientException"
    with pytest.raises(ClientError) as e:
        ecs.run_task(cluster=cluster, taskDefinition=td["taskDefinitionArn"],
                     networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-0123456789abcdef0"]}})
    assert code_of(e.value) == "InvalidParameterException" and "InvalidSubnetID.NotFound" in str(e.value)
    with pytest.raises(ClientError) as e:
        ecs.run_task(cluster=cluster, taskDefinition=td["taskDefinitionArn"],
                     networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet],
                                                                   "securityGroups": ["sg-0123456789abcdef0"]}})
    assert code_of(e.value) == "InvalidParameterException" and "InvalidGroup.NotFound" in str(e.value)
    after = ecs.list_tasks(cluster=cluster, desiredStatus="STOPPED")["taskArns"] + \
        ecs.list_tasks(cluster=cluster)["taskArns"]
    assert sorted(after) == sorted(before)


def test_wrong_signature_is_refused(aws_sim):
    ecs = aws_sim.client("ecs", secret_key="not-the-secret")
    with pytest.raises(ClientError) as e:
        ecs.list_clusters()
    assert code_of(e.value) == "InvalidSignatureException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as e:
        aws_sim.client("ecs", access_key="AKIDUNKNOWN").list_clusters()
    assert code_of(e.value) == "UnrecognizedClientException"
    with pytest.raises(ClientError) as e:
        aws_sim.client("sts", secret_key="nope").get_caller_identity()
    assert code_of(e.value) == "SignatureDoesNotMatch"
    me = aws_sim.aws("sts", "get-caller-identity")
    assert me["Account"] == "123456789012"

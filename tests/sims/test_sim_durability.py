"""The simulator's state survives it: after a restart, clusters, task definitions and logs
are there; tasks whose processes outlived a crash are re-adopted (they keep running and
stop when told); tasks whose processes are gone are STOPPED with a reason saying why."""

from __future__ import annotations

import signal
import time

import pytest

from conftest import default_subnet, wait_for

pytestmark = pytest.mark.timeout(300)


def setup_task(sim, image: str, family: str) -> str:
    ecs = sim.client("ecs")
    ecs.create_cluster(clusterName="durable")
    ecs.register_task_definition(
        family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256",
        memory="512", containerDefinitions=[{
            "name": "main", "image": image,
            "command": ["sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.2; done"]}])
    subnet = default_subnet(sim)
    t = ecs.run_task(cluster="durable", taskDefinition=family,
                     networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet]}})["tasks"][0]
    wait_for(lambda: ecs.describe_tasks(cluster="durable", tasks=[t["taskArn"]])["tasks"][0]["lastStatus"] == "RUNNING",
             timeout=90, what="RUNNING")
    return t["taskArn"]


def status(sim, arn: str) -> dict:
    return sim.client("ecs").describe_tasks(cluster="durable", tasks=[arn])["tasks"][0]


def test_crash_keeps_state_and_readopts_running_tasks(sim_factory, registry):
    sim = sim_factory()
    arn = setup_task(sim, f"{registry.host}/busybox:latest", "crash")
    logs = sim.client("logs")
    logs.create_log_group(logGroupName="kept")
    logs.create_log_stream(logGroupName="kept", logStreamName="s")
    logs.put_log_events(logGroupName="kept", logStreamName="s",
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": "survives"}])

    sim.stop(signal.SIGKILL)
    sim.start()

    ecs = sim.client("ecs")
    assert [c["clusterName"] for c in ecs.describe_clusters(clusters=["durable"])["clusters"]] == ["durable"]
    assert ecs.describe_task_definition(taskDefinition="crash")["taskDefinition"]["revision"] == 1
    ev = logs.get_log_events(logGroupName="kept", logStreamName="s", startFromHead=True)["events"]
    assert [e["message"] for e in ev] == ["survives"]
    t = status(sim, arn)
    assert t["lastStatus"] == "RUNNING", t
    assert arn in ecs.list_tasks(cluster="durable")["taskArns"]
    ecs.stop_task(cluster="durable", task=arn)
    t = wait_for(lambda: (x := status(sim, arn))["lastStatus"] == "STOPPED" and x, timeout=90, what="STOPPED")
    assert t["containers"][0]["exitCode"] == 7 and t["stopCode"] == "UserInitiated"


def test_clean_restart_stops_tasks_with_a_reason(sim_factory, registry):
    sim = sim_factory()
    arn = setup_task(sim, f"{registry.host}/busybox:latest", "clean")
    assert sim.stop() == 0
    sim.start()
    t = status(sim, arn)
    assert t["lastStatus"] == "STOPPED" and t["desiredStatus"] == "STOPPED", t
    assert "simulator restarted" in t["stoppedReason"], t
    assert arn not in sim.client("ecs").list_tasks(cluster="durable")["taskArns"]

"""EFS on the AWS simulator: file systems, access points and mount targets as directories,
and ECS tasks sharing a file system through an access point (what a named volume on the ECS
backend will be)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from conftest import code_of, default_subnet, wait_for

pytestmark = pytest.mark.timeout(240)



def test_file_systems_access_points_mount_targets(aws_sim):
    efs = aws_sim.client("efs")
    fs = efs.create_file_system(CreationToken="tok-1", Tags=[{"Key": "Name", "Value": "cache"}])
    assert fs["FileSystemId"].startswith("fs-") and fs["LifeCycleState"] == "available"
    assert fs["Name"] == "cache"
    with pytest.raises(ClientError) as e:
        efs.create_file_system(CreationToken="tok-1")
    assert code_of(e.value) == "FileSystemAlreadyExists"
    listed = aws_sim.aws("efs", "describe-file-systems", "--file-system-id", fs["FileSystemId"])
    assert [x["CreationToken"] for x in listed["FileSystems"]] == ["tok-1"]
    ap = efs.create_access_point(ClientToken="ap-1", FileSystemId=fs["FileSystemId"],
                                 PosixUser={"Uid": 1000, "Gid": 1000},
                                 RootDirectory={"Path": "/data", "CreationInfo": {
                                     "OwnerUid": 1000, "OwnerGid": 1000, "Permissions": "750"}})
    assert ap["AccessPointId"].startswith("fsap-") and ap["RootDirectory"]["Path"] == "/data"
    assert efs.describe_access_points(FileSystemId=fs["FileSystemId"])["AccessPoints"][0]["AccessPointId"] == ap["AccessPointId"]
    with pytest.raises(ClientError) as e:
        efs.create_access_point(ClientToken="ap-2", FileSystemId=fs["FileSystemId"], RootDirectory={"Path": "/nope"})
    assert code_of(e.value) == "BadRequest"
    subnet = default_subnet(aws_sim)
    mt = efs.create_mount_target(FileSystemId=fs["FileSystemId"], SubnetId=subnet)
    assert efs.describe_mount_targets(FileSystemId=fs["FileSystemId"])["MountTargets"][0]["MountTargetId"] == mt["MountTargetId"]
    with pytest.raises(ClientError) as e:
        efs.delete_file_system(FileSystemId=fs["FileSystemId"])
    assert code_of(e.value) == "FileSystemInUse"
    efs.delete_mount_target(MountTargetId=mt["MountTargetId"])
    efs.delete_access_point(AccessPointId=ap["AccessPointId"])
    efs.delete_file_system(FileSystemId=fs["FileSystemId"])
    with pytest.raises(ClientError) as e:
        efs.describe_file_systems(FileSystemId=fs["FileSystemId"])
    assert code_of(e.value) == "FileSystemNotFound"


def test_tasks_share_a_file_system_through_an_access_point(aws_sim, registry):
    busybox = f"{registry.host}/busybox:latest"
    efs = aws_sim.client("efs")
    fs = efs.create_file_system(CreationToken="shared")["FileSystemId"]
    ap = efs.create_access_point(ClientToken="shared-ap", FileSystemId=fs, RootDirectory={
        "Path": "/vol", "CreationInfo": {"OwnerUid": 0, "OwnerGid": 0, "Permissions": "755"}})["AccessPointId"]
    ecs = aws_sim.client("ecs")
    ecs.create_cluster(clusterName="efs")
    subnet = default_subnet(aws_sim)
    volume = {"name": "data", "efsVolumeConfiguration": {
        "fileSystemId": fs, "transitEncryption": "ENABLED", "authorizationConfig": {"accessPointId": ap}}}

    def run(command: str) -> dict:
        ecs.register_task_definition(
            family="efs", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256",
            memory="512", volumes=[volume], containerDefinitions=[{
                "name": "main", "image": busybox, "command": ["sh", "-c", command],
                "mountPoints": [{"sourceVolume": "data", "containerPath": "/mnt/data"}]}])
        arn = ecs.run_task(cluster="efs", taskDefinition="efs", networkConfiguration={
            "awsvpcConfiguration": {"subnets": [subnet]}})["tasks"][0]["taskArn"]
        return wait_for(lambda: (t := ecs.describe_tasks(cluster="efs", tasks=[arn])["tasks"][0])["lastStatus"] == "STOPPED" and t,
                        timeout=120, what="STOPPED")

    assert run("echo from-the-first-task > /mnt/data/note")["containers"][0]["exitCode"] == 0
    t = run('[ "$(cat /mnt/data/note)" = from-the-first-task ]')
    assert t["containers"][0]["exitCode"] == 0, t
    # an access point that does not exist fails the task before it runs
    volume["efsVolumeConfiguration"]["authorizationConfig"]["accessPointId"] = "fsap-0000000000000000a"
    t = run("true")
    assert t["stopCode"] == "TaskFailedToStart" and "ResourceInitializationError" in t["stoppedReason"], t

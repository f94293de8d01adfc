"""IAM roles, EC2's default VPC, subnets and security groups, and STS, on the AWS simulator,
with awscli and boto3."""

from __future__ import annotations

import json
import urllib.parse

import pytest
from botocore.exceptions import ClientError

from conftest import code_of

pytestmark = pytest.mark.timeout(120)

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]})



def test_roles(aws_sim):
    r = aws_sim.aws("iam", "create-role", "--role-name", "ecsTaskExecutionRole",
                    "--assume-role-policy-document", TRUST)["Role"]
    assert r["Arn"] == "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
    assert r["RoleId"].startswith("AROA") and r["Path"] == "/"
    iam = aws_sim.client("iam")
    got = iam.get_role(RoleName="ecsTaskExecutionRole")["Role"]
    # boto3 decodes the URL-encoded policy document IAM sends into a dict
    assert got["AssumeRolePolicyDocument"] == json.loads(TRUST)
    iam.attach_role_policy(RoleName="ecsTaskExecutionRole",
                           PolicyArn="arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")
    att = iam.list_attached_role_policies(RoleName="ecsTaskExecutionRole")["AttachedPolicies"]
    assert [a["PolicyName"] for a in att] == ["AmazonECSTaskExecutionRolePolicy"]
    with pytest.raises(ClientError) as e:
        iam.delete_role(RoleName="ecsTaskExecutionRole")
    assert code_of(e.value) == "DeleteConflict"
    with pytest.raises(ClientError) as e:
        iam.create_role(RoleName="ecsTaskExecutionRole", AssumeRolePolicyDocument=TRUST)
    assert code_of(e.value) == "EntityAlreadyExists"
    assert "ecsTaskExecutionRole" in [x["RoleName"] for x in iam.list_roles()["Roles"]]
    iam.detach_role_policy(RoleName="ecsTaskExecutionRole",
                           PolicyArn="arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")
    iam.delete_role(RoleName="ecsTaskExecutionRole")
    with pytest.raises(ClientError) as e:
        iam.get_role(RoleName="ecsTaskExecutionRole")
    assert code_of(e.value) == "NoSuchEntity" and e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as e:
        iam.create_role(RoleName="bad name!", AssumeRolePolicyDocument=TRUST)
    assert code_of(e.value) == "ValidationError"
    with pytest.raises(ClientError) as e:
        iam.create_role(RoleName="badpolicy", AssumeRolePolicyDocument="{not json")
    assert code_of(e.value) == "MalformedPolicyDocument"
    assert "badpolicy" not in [x["RoleName"] for x in iam.list_roles()["Roles"]]


def test_default_vpc_is_the_simulator_vpc(aws_sim):
    vpcs = aws_sim.aws("ec2", "describe-vpcs", "--filters", "Name=is-default,Values=true")["Vpcs"]
    assert len(vpcs) == 1 and vpcs[0]["CidrBlock"] == aws_sim.vpc_cidr and vpcs[0]["IsDefault"] is True
    subnets = aws_sim.aws("ec2", "describe-subnets", "--filters", f"Name=vpc-id,Values={vpcs[0]['VpcId']}")["Subnets"]
    assert sorted(s["AvailabilityZone"] for s in subnets) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert all(s["DefaultForAz"] and s["State"] == "available" for s in subnets)
    groups = aws_sim.aws("ec2", "describe-security-groups", "--group-names", "default")["SecurityGroups"]
    assert groups[0]["VpcId"] == vpcs[0]["VpcId"]


def test_subnets_and_security_groups(aws_sim):
    ec2 = aws_sim.client("ec2")
    vpc = ec2.describe_vpcs()["Vpcs"][0]
    base = vpc["CidrBlock"].split("/")[0].rsplit(".", 2)[0]  # "10.231"
    sub = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock=f"{base}.240.0/24", AvailabilityZone="us-east-1b")["Subnet"]
    assert sub["CidrBlock"] == f"{base}.240.0/24" and sub["DefaultForAz"] is False
    assert ec2.describe_subnets(SubnetIds=[sub["SubnetId"]])["Subnets"][0]["AvailabilityZone"] == "us-east-1b"
    with pytest.raises(ClientError) as e:
        ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock=f"{base}.240.0/25")
    assert code_of(e.value) == "InvalidSubnet.Conflict"
    with pytest.raises(ClientError) as e:
        ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="192.0.2.0/24")
    assert code_of(e.value) == "InvalidSubnet.Range"
    ec2.delete_subnet(SubnetId=sub["SubnetId"])
    with pytest.raises(ClientError) as e:
        ec2.describe_subnets(SubnetIds=[sub["SubnetId"]])
    assert code_of(e.value) == "InvalidSubnetID.NotFound"

    sg = ec2.create_security_group(GroupName="tasks", Description="for tasks", VpcId=vpc["VpcId"])["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    g = ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]
    assert g["GroupName"] == "tasks" and g["IpPermissions"][0]["FromPort"] == 8080
    assert g["IpPermissions"][0]["IpRanges"] == [{"CidrIp": "10.0.0.0/8"}]
    with pytest.raises(ClientError) as e:
        ec2.create_security_group(GroupName="tasks", Description="again", VpcId=vpc["VpcId"])
    assert code_of(e.value) == "InvalidGroup.Duplicate"
    ec2.delete_security_group(GroupId=sg)
    with pytest.raises(ClientError) as e:
        ec2.describe_security_groups(GroupIds=[sg])
    assert code_of(e.value) == "InvalidGroup.NotFound"


def test_caller_identity(aws_sim):
    me = aws_sim.client("sts").get_caller_identity()
    assert (me["Account"], me["Arn"]) == ("123456789012", "arn:aws:iam::123456789012:root")


def test_unsigned_and_badly_signed_query_requests(aws_sim):
    import urllib.request
    body = urllib.parse.urlencode({"Action": "GetCallerIdentity", "Version": "2011-06-15"}).encode()
    req = urllib.request.Request(aws_sim.endpoint + "/", data=body,
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 403 and b"MissingAuthenticationToken" in e.value.read()
    with pytest.raises(ClientError) as e:
        aws_sim.client("iam", access_key="AKIDNOBODY").list_roles()
    assert code_of(e.value) == "InvalidClientTokenId"

"""Cloud Map on the AWS simulator: private DNS namespaces on the VPC, services and their
instances through the API (boto3 and the AWS CLI), and the names answered by the VPC's DNS
server, to the host and to ECS tasks.

DiscoverInstances goes to a "data-" host prefix in botocore; against a local endpoint the
clients here are made with Config(inject_host_prefix=False)."""

from __future__ import annotations

import ipaddress
import random
import socket
import struct

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import code_of, default_subnet, wait_for

pytestmark = pytest.mark.timeout(300)




def client(sim):
    import boto3

    session = boto3.session.Session(aws_access_key_id=sim.access_key,
                                    aws_secret_access_key=sim.secret_key, region_name="us-east-1")
    return session.client("servicediscovery", endpoint_url=sim.endpoint,
                          config=Config(retries={"max_attempts": 1}, inject_host_prefix=False))


def vpc_of(sim) -> str:
    return sim.client("ec2").describe_vpcs()["Vpcs"][0]["VpcId"]


def new_namespace(sd, name: str, vpc: str) -> str:
    op = sd.create_private_dns_namespace(Name=name, Vpc=vpc, CreatorRequestId=f"req-{name}")
    got = sd.get_operation(OperationId=op["OperationId"])["Operation"]
    assert got["Status"] == "SUCCESS" and got["Type"] == "CREATE_NAMESPACE"
    return got["Targets"]["NAMESPACE"]


def dns_address(sim) -> str:
    """Where the VPC's DNS server listens: the VPC's last host address."""
    cidr = sim.client("ec2").describe_vpcs()["Vpcs"][0]["CidrBlock"]
    return str(ipaddress.ip_network(cidr).broadcast_address - 1)


def dns_query(server: str, name: str, qtype: int = 1, tcp: bool = False):
    """One query built by hand; (rcode, [(address, ttl)], answer count)."""
    qid = random.randint(0, 0xFFFF)
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    packet = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question + struct.pack("!HH", qtype, 1)
    if tcp:
        with socket.create_connection((server, 53), timeout=5) as s:
            s.sendall(struct.pack("!H", len(packet)) + packet)
            size = struct.unpack("!H", s.recv(2))[0]
            reply = b""
            while len(reply) < size:
                reply += s.recv(size - len(reply))
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(packet, (server, 53))
            reply = s.recv(4096)
    rid, flags, qd, an, _, _ = struct.unpack("!HHHHHH", reply[:12])
    assert rid == qid and flags & 0x8000
    offset = 12 + len(question) + 4
    records = []
    for _ in range(an):
        while reply[offset] != 0 and reply[offset] & 0xC0 != 0xC0:
            offset += reply[offset] + 1
        offset += 2 if reply[offset] & 0xC0 == 0xC0 else 1
        rtype, _, ttl, rdlen = struct.unpack("!HHIH", reply[offset:offset + 10])
        offset += 10
        if rtype == 1:
            records.append((socket.inet_ntoa(reply[offset:offset + rdlen]), ttl))
        offset += rdlen
    return flags & 0xF, records, an


def test_namespaces_services_instances(aws_sim):
    sd = client(aws_sim)
    vpc = vpc_of(aws_sim)
    ns = new_namespace(sd, "api.local", vpc)
    assert ns.startswith("ns-")
    got = sd.get_namespace(Id=ns)["Namespace"]
    assert got["Name"] == "api.local" and got["Type"] == "DNS_PRIVATE" and got["ServiceCount"] == 0
    assert got["Properties"]["DnsProperties"]["HostedZoneId"].startswith("Z")
    # a retried create answers the same operation; the same name again in the VPC is refused
    again = sd.create_private_dns_namespace(Name="api.local", Vpc=vpc, CreatorRequestId="req-api.local")
    assert sd.get_operation(OperationId=again["OperationId"])["Operation"]["Targets"]["NAMESPACE"] == ns
    with pytest.raises(ClientError) as e:
        sd.create_private_dns_namespace(Name="api.local", Vpc=vpc)
    assert code_of(e.value) == "NamespaceAlreadyExists"
    with pytest.raises(ClientError) as e:
        sd.create_private_dns_namespace(Name="other.local", Vpc="vpc-0000000000000000f")
    assert code_of(e.value) == "InvalidInput"
    names = [n["Name"] for n in sd.list_namespaces()["Namespaces"]]
    assert names.count("api.local") == 1 and "other.local" not in names
    filtered = sd.list_namespaces(Filters=[{"Name": "NAME", "Values": ["api."], "Condition": "BEGINS_WITH"}])
    assert [n["Id"] for n in filtered["Namespaces"]] == [ns]
    assert sd.list_namespaces(Filters=[{"Name": "TYPE", "Values": ["HTTP"]}])["Namespaces"] == []

    # services
    dns_config = {"DnsRecords": [{"Type": "A", "TTL": 42}], "RoutingPolicy": "MULTIVALUE"}
    svc = sd.create_service(Name="web", NamespaceId=ns, DnsConfig=dns_config,
                            HealthCheckCustomConfig={"FailureThreshold": 1})["Service"]
    assert svc["Id"].startswith("srv-") and svc["Arn"].endswith("service/" + svc["Id"])
    assert svc["DnsConfig"]["DnsRecords"] == [{"Type": "A", "TTL": 42}]
    with pytest.raises(ClientError) as e:
        sd.create_service(Name="web", NamespaceId=ns, DnsConfig=dns_config)
    assert code_of(e.value) == "ServiceAlreadyExists"
    with pytest.raises(ClientError) as e:
        sd.create_service(Name="db", NamespaceId="ns-doesnotexist0000", DnsConfig=dns_config)
    assert code_of(e.value) == "NamespaceNotFound"
    with pytest.raises(ClientError) as e:
        sd.create_service(Name="db", NamespaceId=ns, DnsConfig={"DnsRecords": [{"Type": "MX", "TTL": 1}]})
    assert code_of(e.value) == "InvalidInput"
    listed = sd.list_services(Filters=[{"Name": "NAMESPACE_ID", "Values": [ns]}])["Services"]
    assert [s["Name"] for s in listed] == ["web"]
    assert sd.get_namespace(Id=ns)["Namespace"]["ServiceCount"] == 1
    with pytest.raises(ClientError) as e:
        sd.delete_namespace(Id=ns)
    assert code_of(e.value) == "ResourceInUse"
    assert sd.get_namespace(Id=ns)["Namespace"]["Id"] == ns

    # instances
    op = sd.register_instance(ServiceId=svc["Id"], InstanceId="i-1",
                              Attributes={"AWS_INSTANCE_IPV4": "10.99.0.5", "color": "blue"})
    got = sd.get_operation(OperationId=op["OperationId"])["Operation"]
    assert got["Status"] == "SUCCESS" and got["Targets"] == {"SERVICE": svc["Id"], "INSTANCE": "i-1"}
    sd.register_instance(ServiceId=svc["Id"], InstanceId="i-2",
                         Attributes={"AWS_INSTANCE_IPV4": "10.99.0.6", "color": "green"})
    with pytest.raises(ClientError) as e:  # an A record needs an address
        sd.register_instance(ServiceId=svc["Id"], InstanceId="i-3", Attributes={"color": "red"})
    assert code_of(e.value) == "InvalidInput"
    with pytest.raises(ClientError) as e:
        sd.register_instance(ServiceId=svc["Id"], InstanceId="i-3", Attributes={"AWS_INSTANCE_IPV4": "10.1"})
    assert code_of(e.value) == "InvalidInput"
    with pytest.raises(ClientError) as e:
        sd.register_instance(ServiceId="srv-doesnotexist000", InstanceId="i-3",
                             Attributes={"AWS_INSTANCE_IPV4": "10.99.0.7"})
    assert code_of(e.value) == "ServiceNotFound"
    instances = sd.list_instances(ServiceId=svc["Id"])["Instances"]
    assert sorted(i["Id"] for i in instances) == ["i-1", "i-2"]
    assert sd.get_instance(ServiceId=svc["Id"], InstanceId="i-1")["Instance"]["Attributes"]["color"] == "blue"
    with pytest.raises(ClientError) as e:
        sd.get_instance(ServiceId=svc["Id"], InstanceId="i-3")
    assert code_of(e.value) == "InstanceNotFound"
    assert sd.get_service(Id=svc["Id"])["Service"]["InstanceCount"] == 2

    found = sd.discover_instances(NamespaceName="api.local", ServiceName="web")
    assert sorted(i["Attributes"]["AWS_INSTANCE_IPV4"] for i in found["Instances"]) == ["10.99.0.5", "10.99.0.6"]
    blue = sd.discover_instances(NamespaceName="api.local", ServiceName="web", QueryParameters={"color": "blue"})
    assert [i["InstanceId"] for i in blue["Instances"]] == ["i-1"]
    with pytest.raises(ClientError) as e:
        sd.discover_instances(NamespaceName="api.local", ServiceName="nope")
    assert code_of(e.value) == "ServiceNotFound"
    with pytest.raises(ClientError) as e:
        sd.discover_instances(NamespaceName="nope.local", ServiceName="web")
    assert code_of(e.value) == "NamespaceNotFound"

    # the AWS CLI sees the same
    cli = aws_sim.aws("servicediscovery", "list-instances", "--service-id", svc["Id"])
    assert sorted(i["Id"] for i in cli["Instances"]) == ["i-1", "i-2"]

    with pytest.raises(ClientError) as e:
        sd.delete_service(Id=svc["Id"])
    assert code_of(e.value) == "ResourceInUse"
    assert sd.get_service(Id=svc["Id"])["Service"]["InstanceCount"] == 2
    with pytest.raises(ClientError) as e:
        sd.deregister_instance(ServiceId=svc["Id"], InstanceId="i-9")
    assert code_of(e.value) == "InstanceNotFound"
    for i in ("i-1", "i-2"):
        op = sd.deregister_instance(ServiceId=svc["Id"], InstanceId=i)["OperationId"]
        assert sd.get_operation(OperationId=op)["Operation"]["Type"] == "DEREGISTER_INSTANCE"
    sd.delete_service(Id=svc["Id"])
    with pytest.raises(ClientError) as e:
        sd.get_service(Id=svc["Id"])
    assert code_of(e.value) == "ServiceNotFound"
    op = sd.delete_namespace(Id=ns)["OperationId"]
    assert sd.get_operation(OperationId=op)["Operation"]["Status"] == "SUCCESS"
    with pytest.raises(ClientError) as e:
        sd.get_namespace(Id=ns)
    assert code_of(e.value) == "NamespaceNotFound"
    ops = sd.list_operations(Filters=[{"Name": "NAMESPACE_ID", "Values": [ns]}])["Operations"]
    assert len(ops) == 2 and all(o["Status"] == "SUCCESS" for o in ops)
    with pytest.raises(ClientError) as e:
        sd.get_operation(OperationId="nope")
    assert code_of(e.value) == "OperationNotFound"


def test_dns_answers_namespace_names_from_the_host(aws_sim):
    sd = client(aws_sim)
    server = dns_address(aws_sim)
    ns = new_namespace(sd, "dns.internal", vpc_of(aws_sim))
    svc = sd.create_service(Name="db", NamespaceId=ns,
                            DnsConfig={"DnsRecords": [{"Type": "A", "TTL": 17}]})["Service"]["Id"]
    # a service with no instances: the name exists, no addresses
    rcode, records, count = dns_query(server, "db.dns.internal")
    assert (rcode, count) == (0, 0)
    sd.register_instance(ServiceId=svc, InstanceId="a", Attributes={"AWS_INSTANCE_IPV4": "10.200.0.1"})
    sd.register_instance(ServiceId=svc, InstanceId="b", Attributes={"AWS_INSTANCE_IPV4": "10.200.0.2"})
    rcode, records, _ = dns_query(server, "db.dns.internal")
    assert rcode == 0 and sorted(records) == [("10.200.0.1", 17), ("10.200.0.2", 17)]
    rcode, records, _ = dns_query(server, "DB.Dns.Internal", tcp=True)  # names are case-blind
    assert rcode == 0 and sorted(a for a, _ in records) == ["10.200.0.1", "10.200.0.2"]
    assert dns_query(server, "db.dns.internal", qtype=28)[0::2] == (0, 0)  # no AAAA: NOERROR, empty
    assert dns_query(server, "nope.dns.internal")[0] == 3  # NXDOMAIN inside the namespace
    assert dns_query(server, "x.nope.dns.internal", tcp=True)[0] == 3
    sd.deregister_instance(ServiceId=svc, InstanceId="a")
    assert dns_query(server, "db.dns.internal")[1] == [("10.200.0.2", 17)]
    # names outside every namespace go to the host's resolvers: the simulator answers what
    # they answer (SERVFAIL when none can be reached)
    rcode, _, _ = dns_query(server, "localhost")
    upstreams = [l.split()[1] for l in open("/etc/resolv.conf") if l.startswith("nameserver")]
    try:
        expected = dns_query(upstreams[0], "localhost")[0] if upstreams else 2
    except OSError:
        expected = 2
    assert rcode == expected
    sd.deregister_instance(ServiceId=svc, InstanceId="b")
    sd.delete_service(Id=svc)
    assert dns_query(server, "db.dns.internal")[0] == 3
    sd.delete_namespace(Id=ns)


@pytest.mark.timeout(240)
def test_ecs_task_resolves_a_cloud_map_name(aws_sim, registry):
    busybox = f"{registry.host}/busybox:latest"
    sd = client(aws_sim)
    ecs = aws_sim.client("ecs")
    ecs.create_cluster(clusterName="cloudmap")
    subnet = default_subnet(aws_sim)
    network = {"awsvpcConfiguration": {"subnets": [subnet]}}

    def task_definition(family: str, command: str) -> str:
        return ecs.register_task_definition(
            family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256",
            memory="512", containerDefinitions=[{
                # httpd as PID 1 ignores SIGTERM: a short stopTimeout ends the server quickly
                "name": "main", "image": busybox, "stopTimeout": 2,
                "command": ["sh", "-c", command]}])["taskDefinition"]["taskDefinitionArn"]

    def describe(arn: str) -> dict:
        return ecs.describe_tasks(cluster="cloudmap", tasks=[arn])["tasks"][0]

    server = ecs.run_task(cluster="cloudmap", networkConfiguration=network, taskDefinition=task_definition(
        "cm-server", "mkdir /www && echo from-cloud-map > /www/index.html && exec httpd -f -p 8080 -h /www"))["tasks"][0]["taskArn"]
    s = wait_for(lambda: (t := describe(server))["lastStatus"] == "RUNNING" and t, timeout=120, what="RUNNING")
    ip = {d["name"]: d["value"] for d in s["attachments"][0]["details"]}["privateIPv4Address"]
    ns = new_namespace(sd, "apps.local", vpc_of(aws_sim))
    svc = sd.create_service(Name="web", NamespaceId=ns,
                            DnsConfig={"DnsRecords": [{"Type": "A", "TTL": 10}]})["Service"]["Id"]
    sd.register_instance(ServiceId=svc, InstanceId=server.split("/")[-1],
                         Attributes={"AWS_INSTANCE_IPV4": ip})
    try:
        probe = ecs.run_task(cluster="cloudmap", networkConfiguration=network, taskDefinition=task_definition(
            "cm-client", "nslookup web.apps.local && wget -qO- http://web.apps.local:8080/ | grep -x from-cloud-map "
                         "&& ! nslookup missing.apps.local"))["tasks"][0]["taskArn"]
        t = wait_for(lambda: (t := describe(probe))["lastStatus"] == "STOPPED" and t, timeout=120, what="STOPPED")
        assert t["containers"][0]["exitCode"] == 0, t
    finally:
        ecs.stop_task(cluster="cloudmap", task=server)
        wait_for(lambda: describe(server)["lastStatus"] == "STOPPED", timeout=120, what="server STOPPED")
    sd.deregister_instance(ServiceId=svc, InstanceId=server.split("/")[-1])
    sd.delete_service(Id=svc)
    sd.delete_namespace(Id=ns)

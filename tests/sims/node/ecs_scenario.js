// The AWS SDK for JavaScript v3 against sockerless-sim: run by tests/sims/test_sdks.py with
// SOCKERLESS_SIM_ENDPOINT. The JavaScript SDK sends its header names in lower case and signs
// them so; the simulator must verify that too. Prints "ok <step>" per step; exits non-zero on
// the first failure.
const { ECSClient, CreateClusterCommand, ListClustersCommand, DescribeClustersCommand,
        RegisterTaskDefinitionCommand, ClusterNotFoundException, RunTaskCommand } = require("@aws-sdk/client-ecs");
const { CloudWatchLogsClient, CreateLogGroupCommand, DescribeLogGroupsCommand } = require("@aws-sdk/client-cloudwatch-logs");

const endpoint = process.env.SOCKERLESS_SIM_ENDPOINT;
const client = (Client, secret) => new Client({
  endpoint, region: "us-east-1", maxAttempts: 1,
  credentials: { accessKeyId: "test", secretAccessKey: secret },
});

function check(cond, what, detail) {
  if (!cond) throw new Error(`${what}: ${JSON.stringify(detail)}`);
}

async function main() {
  check(endpoint, "SOCKERLESS_SIM_ENDPOINT", endpoint);
  const ecs = client(ECSClient, "test");
  const c = await ecs.send(new CreateClusterCommand({ clusterName: "node-sdk", tags: [{ key: "k", value: "v" }] }));
  check(c.cluster.clusterArn === "arn:aws:ecs:us-east-1:123456789012:cluster/node-sdk", "create", c.cluster);
  const l = await ecs.send(new ListClustersCommand({}));
  check(l.clusterArns.includes(c.cluster.clusterArn), "list", l);
  const d = await ecs.send(new DescribeClustersCommand({ clusters: ["node-sdk"], include: ["TAGS"] }));
  check(d.clusters[0].tags[0].key === "k", "describe", d);
  const td = await ecs.send(new RegisterTaskDefinitionCommand({
    family: "node-sdk", networkMode: "awsvpc", requiresCompatibilities: ["FARGATE"], cpu: "256", memory: "512",
    containerDefinitions: [{ name: "main", image: "busybox", command: ["true"] }],
  }));
  check(td.taskDefinition.revision === 1, "register", td);
  console.log("ok ecs");

  try {
    await ecs.send(new RunTaskCommand({ cluster: "missing", taskDefinition: "node-sdk" }));
    throw new Error("RunTask on a missing cluster succeeded");
  } catch (e) {
    check(e instanceof ClusterNotFoundException, "missing cluster", { name: e.name, message: e.message });
  }
  console.log("ok errors");

  const logs = client(CloudWatchLogsClient, "test");
  await logs.send(new CreateLogGroupCommand({ logGroupName: "/node/sdk" }));
  const g = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: "/node/" }));
  check(g.logGroups.map((x) => x.logGroupName).join() === "/node/sdk", "log groups", g);
  console.log("ok logs");

  try {
    await client(ECSClient, "wrong-secret").send(new ListClustersCommand({}));
    throw new Error("a wrong secret was accepted");
  } catch (e) {
    check(e.name === "InvalidSignatureException", "wrong secret", { name: e.name, message: e.message });
  }
  console.log("ok signatures");
}

main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});

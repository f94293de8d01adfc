// Testcontainers for Node (12.2.0, under bun) against a sockerlessd: run by
// tests/clients/test_testcontainers.py with DOCKER_HOST, TESTCONTAINERS_RYUK_DISABLED=true,
// TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 and SOCKERLESS_TEST_BUSYBOX (the busybox image in the
// harness registry). Prints "ok <step>" per step; any failure exits non-zero.
const { GenericContainer, Network, Wait } = require("testcontainers");
const { buffer, text } = require("node:stream/consumers");

const image = process.env.SOCKERLESS_TEST_BUSYBOX;
const idle = "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done";

function check(cond, what, detail) {
  if (!cond) throw new Error(`${what}: ${JSON.stringify(detail)}`);
}

async function main() {
  check(image, "SOCKERLESS_TEST_BUSYBOX", image);
  const started = [];
  let network;
  try {
    const c = await new GenericContainer(image)
      .withCommand(["sh", "-c",
        "mkdir /www && echo served-by-busybox > /www/index.html && httpd -p 8080 -h /www && " +
        "sleep 1 && echo ready-for-tests; " + idle])
      .withEnvironment({ GREETING: "hello-from-node" })
      .withExposedPorts(8080)
      .withCopyContentToContainer([{ content: "copied before start\n", target: "/tmp/in/before.txt" }])
      .withWaitStrategy(Wait.forLogMessage("ready-for-tests"))
      .withStartupTimeout(30000)
      .start();
    started.push(c);
    const logs = await text(await c.logs());
    check(logs.includes("ready-for-tests"), "logs", logs);
    console.log("ok log wait");

    let r = await c.exec(["sh", "-c", 'cat /tmp/in/before.txt; echo "$GREETING"']);
    check(r.exitCode === 0 && r.stdout === "copied before start\nhello-from-node\n", "exec", r);
    r = await c.exec(["sh", "-c", "echo out; echo err >&2; exit 4"]);
    check(r.exitCode === 4 && r.stdout === "out\n" && r.stderr === "err\n", "exec exit code", r);
    console.log("ok exec");

    await c.copyContentToContainer([{ content: "copied later\n", target: "/tmp/later/file.txt", mode: 0o600 }]);
    r = await c.exec(["stat", "-c", "%a %s", "/tmp/later/file.txt"]);
    check(r.stdout === "600 13\n", "copied file", r);
    const archive = await c.copyArchiveFromContainer("/tmp/later/file.txt");
    const tar = await buffer(archive);
    check(tar.includes("copied later\n") && tar.subarray(0, 100).toString().startsWith("file.txt"), "copy out", tar.subarray(0, 120).toString());
    console.log("ok copy");

    const url = `http://${c.getHost()}:${c.getMappedPort(8080)}/index.html`;
    check(c.getHost() === "127.0.0.1" && c.getMappedPort(8080) !== 8080, "host/port", url);
    const resp = await fetch(url);
    const body = await resp.text();
    check(resp.status === 200 && body === "served-by-busybox\n", "GET " + url, body);
    console.log("ok port");

    network = await new Network().start();
    const server = await new GenericContainer(image)
      .withNetwork(network).withNetworkAliases("web", "www.internal")
      .withCommand(["sh", "-c", "mkdir /www; echo hello-by-alias > /www/index.html; httpd -p 8080 -h /www && echo serving; " + idle])
      .withWaitStrategy(Wait.forLogMessage("serving"))
      .start();
    started.push(server);
    const client = await new GenericContainer(image).withNetwork(network)
      .withCommand(["sh", "-c", idle]).start();
    started.push(client);
    for (const alias of ["web", "www.internal"]) {
      r = await client.exec(["sh", "-c", `printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc ${alias} 8080`]);
      check(r.exitCode === 0 && r.stdout.endsWith("\r\n\r\nhello-by-alias\n"), "GET by " + alias, r);
    }
    console.log("ok network aliases");
  } finally {
    for (const c of started.reverse()) await c.stop();
    if (network) await network.stop();
  }
  console.log("ok stopped");
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });

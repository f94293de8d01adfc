// Testcontainers for Node (12.2.0, under bun) against a sockerlessd: run by
// tests/clients/test_testcontainers.py as `bun -e <this file> <part>` with DOCKER_HOST,
// TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 and SOCKERLESS_TEST_BUSYBOX (the busybox image in
// the harness registry); the reaper is on (TESTCONTAINERS_RYUK_DISABLED unset). Parts:
//   generic  log wait, exec (output, exit code), copy in and out
//   port     a published port waited for and reached from the host
//   network  a network on which one container reaches another by its aliases
//   leave    a container left running when the process ends ("left <id>"), for the reaper
// Prints "ok <step>" per step, "ok stopped" once what it started is stopped; any failure
// exits non-zero.
const { GenericContainer, Network, Wait } = require("testcontainers");
const { buffer } = require("node:stream/consumers");

const image = process.env.SOCKERLESS_TEST_BUSYBOX;
const idle = "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done";

function check(cond, what, detail) {
  if (!cond) throw new Error(`${what}: ${JSON.stringify(detail)}`);
}

// The container's log up to and including `needle`, within `ms`. Testcontainers' logs()
// always follows and unrefs its socket, so nothing but the deadline's timer keeps the
// process alive until the log arrives (without one: see "beforeExit" below).
async function logsUntil(container, needle, ms = 10000) {
  const stream = await container.logs();
  const deadline = setTimeout(() => stream.destroy(new Error(`no ${JSON.stringify(needle)} in the log within ${ms} ms`)), ms);
  let seen = "";
  try {
    for await (const chunk of stream) {
      seen += chunk;
      if (seen.includes(needle)) break;
    }
  } finally {
    clearTimeout(deadline);
    stream.destroy();
  }
  return seen;
}

const parts = {
  async generic(started) {
    const c = await new GenericContainer(image)
      .withCommand(["sh", "-c", "sleep 1; echo ready-for-tests; " + idle])
      .withEnvironment({ GREETING: "hello-from-node" })
      .withCopyContentToContainer([{ content: "copied before start\n", target: "/tmp/in/before.txt" }])
      .withWaitStrategy(Wait.forLogMessage("ready-for-tests"))
      .withStartupTimeout(30000)
      .start();
    started.push(c);
    const logs = await logsUntil(c, "ready-for-tests\n");
    check(logs === "ready-for-tests\n", "logs", logs);
    console.log("ok log wait");

    let r = await c.exec(["sh", "-c", 'cat /tmp/in/before.txt; echo "$GREETING"']);
    check(r.exitCode === 0 && r.stdout === "copied before start\nhello-from-node\n", "exec", r);
    r = await c.exec(["sh", "-c", "echo out; echo err >&2; exit 4"]);
    check(r.exitCode === 4 && r.stdout === "out\n" && r.stderr === "err\n", "exec exit code", r);
    console.log("ok exec");

    await c.copyContentToContainer([{ content: "copied later\n", target: "/tmp/later/file.txt", mode: 0o600 }]);
    r = await c.exec(["stat", "-c", "%a %s", "/tmp/later/file.txt"]);
    check(r.stdout === "600 13\n", "copied file", r);
    const tar = await buffer(await c.copyArchiveFromContainer("/tmp/later/file.txt"));
    check(tar.includes("copied later\n") && tar.subarray(0, 100).toString().startsWith("file.txt"), "copy out",
          tar.subarray(0, 120).toString());
    console.log("ok copy");
  },

  async port(started) {
    const c = await new GenericContainer(image)
      .withCommand(["sh", "-c", "mkdir /www && echo served-by-busybox > /www/index.html && exec httpd -f -p 8080 -h /www"])
      .withExposedPorts(8080)
      .withWaitStrategy(Wait.forListeningPorts())
      .withStartupTimeout(30000)
      .start();
    started.push(c);
    const url = `http://${c.getHost()}:${c.getMappedPort(8080)}/index.html`;
    check(c.getHost() === "127.0.0.1" && c.getMappedPort(8080) !== 8080, "host/port", url);
    const resp = await fetch(url);
    const body = await resp.text();
    check(resp.status === 200 && body === "served-by-busybox\n", "GET " + url, body);
    console.log("ok port");
  },

  async network(started) {
    const network = await new Network().start();
    started.push(network);
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
      const r = await client.exec(["sh", "-c", `printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc ${alias} 8080`]);
      check(r.exitCode === 0 && r.stdout.endsWith("\r\n\r\nhello-by-alias\n"), "GET by " + alias, r);
    }
    console.log("ok network aliases");
  },

  // Starts a container and ends without stopping it: the reaper's to remove.
  async leave() {
    const c = await new GenericContainer(image).withCommand(["sh", "-c", idle]).start();
    console.log(`left ${c.getId()}`);
  },
};

async function main(part) {
  check(image, "SOCKERLESS_TEST_BUSYBOX", image);
  check(parts[part], "part", part);
  const started = []; // containers and networks, stopped in reverse
  try {
    await parts[part](started);
  } finally {
    for (const c of started.reverse()) await c.stop();
  }
  if (started.length) console.log("ok stopped");
}

// An await on something nothing keeps alive (an unref'd socket, as the logs' above) empties
// the event loop: Node and bun then exit 0 with main() unfinished. Make that a failure.
let finished = false;
process.on("beforeExit", () => {
  if (!finished) {
    console.error("the event loop ran empty before the scenario finished (an await on an unref'd socket?)");
    process.exit(3);
  }
});
main(process.argv[process.argv.length - 1]).then(
  () => { finished = true; process.exit(0); },
  (e) => { finished = true; console.error(e); process.exit(1); });

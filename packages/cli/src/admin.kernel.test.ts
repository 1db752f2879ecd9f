// The admin socket and the commands that use it, against a real daemon (real netlink, nftables) in the fresh
// network namespace `test:kernel` runs in.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "@tsnet/protocol";
import { callPlugin } from "@tsnet/server/testing";
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { main } from "./cli.js";
import { type Daemon, serve } from "./serve.js";

// These networks exist in the daemon's store only, never in Docker: keep the Docker API reconcile from releasing
// them as leftovers while the tests run (it would, after its grace period).
process.env.DOCKER_HOST = "unix:///nonexistent/tsnet-admin-test.sock";
process.env.TSNET_RECONCILE_GRACE_MS = "600000";

const NETWORK_ID = `${randomBytes(32).toString("hex")}`;
const ENDPOINT_ID = `${randomBytes(32).toString("hex")}`;

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    env: {},
  });
  return { code, stdout, stderr };
}

function raw(socketPath: string, method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

const test = suite("admin socket");
let dir = "";
let daemon: Daemon | undefined;
let admin = "";
let plugin = "";

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), "tsnet-admin-"));
  admin = join(dir, "run", "admin.sock");
  plugin = join(dir, "plugins", "tsnet.sock");
  daemon = await serve({
    socketPath: plugin,
    adminSocketPath: admin,
    stateDir: join(dir, "state"),
    logger: silentLogger,
  });
  // what dockerd sends for `docker network create --subnet 10.77.0.0/24` and one `docker run`
  const pool = await callPlugin(plugin, "/IpamDriver.RequestPool", {
    AddressSpace: "LocalDefault",
    Pool: "10.77.0.0/24",
    SubPool: "",
    Options: {},
    V6: false,
  });
  const { PoolID } = pool.json as { PoolID: string };
  await callPlugin(plugin, "/IpamDriver.RequestAddress", {
    PoolID,
    Address: "",
    Options: { RequestAddressType: "com.docker.network.gateway" },
  });
  const created = await callPlugin(plugin, "/NetworkDriver.CreateNetwork", {
    NetworkID: NETWORK_ID,
    Options: { "com.docker.network.generic": {} },
    IPv4Data: [{ AddressSpace: "LocalDefault", Pool: "10.77.0.0/24", Gateway: "10.77.0.1/24", AuxAddresses: {} }],
    IPv6Data: [],
  });
  assert.is(created.status, 200, JSON.stringify(created.json));
  const address = await callPlugin(plugin, "/IpamDriver.RequestAddress", { PoolID, Address: "", Options: {} });
  const endpoint = await callPlugin(plugin, "/NetworkDriver.CreateEndpoint", {
    NetworkID: NETWORK_ID,
    EndpointID: ENDPOINT_ID,
    Interface: { Address: (address.json as { Address: string }).Address, AddressIPv6: "", MacAddress: "" },
    Options: {},
  });
  assert.is(endpoint.status, 200, JSON.stringify(endpoint.json));
  await callPlugin(plugin, "/IpamDriver.RequestPool", "not an object");
});

test.after(async () => {
  await daemon?.stop();
  await rm(dir, { recursive: true, force: true });
});

test("the admin socket is mode 0600", async () => {
  assert.is((await stat(admin)).mode & 0o777, 0o600);
});

test("tsnet status shows the plugin, pid, sockets and counts; --json has the same facts", async () => {
  const text = await cli(["status", "--admin-socket", admin]);
  assert.is(text.code, 0, text.stderr);
  assert.match(text.stdout, /Plugin:\s+tsnet/);
  assert.match(text.stdout, new RegExp(`PID:\\s+${process.pid}`));
  assert.match(text.stdout, /Networks:\s+1/);
  assert.match(text.stdout, /Endpoints:\s+1/);
  const json = await cli(["status", "--admin-socket", admin, "--json"]);
  const status = JSON.parse(json.stdout) as Record<string, unknown>;
  assert.is(status.pluginName, "tsnet");
  assert.is(status.socket, plugin);
  assert.equal(status.counts, { networks: 1, endpoints: 1, pools: 1, addresses: 2 });
});

test("tsnet ls lists the network, its endpoint and the pool with usage", async () => {
  const text = await cli(["ls", "--admin-socket", admin]);
  assert.is(text.code, 0, text.stderr);
  assert.ok(text.stdout.includes(NETWORK_ID.slice(0, 12)), text.stdout);
  assert.ok(text.stdout.includes(`tsbr-${NETWORK_ID.slice(0, 10)}`), text.stdout);
  assert.ok(text.stdout.includes(ENDPOINT_ID.slice(0, 12)), text.stdout);
  assert.match(text.stdout, /LocalDefault\/10\.77\.0\.0\/24\s+-\s+2\s+252/);
  const json = JSON.parse((await cli(["ls", "--admin-socket", admin, "--json"])).stdout) as {
    networks: Array<{ id: string; endpoints: Array<{ address: string }> }>;
    pools: Array<{ pool: string; allocated: number; free: number; networkIds: string[] }>;
  };
  assert.is(json.networks[0]?.id, NETWORK_ID);
  assert.is(json.networks[0]?.endpoints[0]?.address, "10.77.0.2/24");
  assert.equal(json.pools[0], {
    ...json.pools[0],
    pool: "10.77.0.0/24",
    allocated: 2,
    free: 252,
    networkIds: [NETWORK_ID],
  });
});

test("tsnet ipam show finds the pool by NetworkID prefix, PoolID and subnet, and lists allocations", async () => {
  for (const query of [NETWORK_ID.slice(0, 8), "LocalDefault/10.77.0.0/24", "10.77.0.0/24"]) {
    const result = await cli([
      "ipam",
      "show",
      query,
      "--admin-socket",
      admin,
      "--docker-socket",
      join(dir, "none.sock"),
    ]);
    assert.is(result.code, 0, `${query}: ${result.stderr}`);
    assert.match(result.stdout, /^ {2}10\.77\.0\.1$/m);
    assert.match(result.stdout, /^ {2}10\.77\.0\.2$/m);
  }
  const missing = await cli([
    "ipam",
    "show",
    "nosuchnet",
    "--admin-socket",
    admin,
    "--docker-socket",
    join(dir, "none.sock"),
  ]);
  assert.is(missing.code, 1);
  assert.match(missing.stderr, /no tsnet pool for "nosuchnet"/);
});

test("/metrics: requests per call and status, latency histogram, pools and endpoints in use", async () => {
  const { status, body } = await raw(admin, "GET", "/metrics");
  assert.is(status, 200);
  assert.match(body, /tsnet_requests_total\{call="NetworkDriver.CreateNetwork",status="200"\} 1/);
  assert.match(body, /tsnet_requests_total\{call="IpamDriver.RequestAddress",status="200"\} 2/);
  assert.match(body, /tsnet_requests_total\{call="IpamDriver.RequestPool",status="400"\} 1/);
  assert.match(body, /tsnet_request_duration_seconds_count\{call="NetworkDriver.CreateEndpoint"\} 1/);
  assert.match(body, /tsnet_request_duration_seconds_bucket\{call="NetworkDriver.CreateEndpoint",le="\+Inf"\} 1/);
  assert.match(body, new RegExp(`tsnet_endpoints\\{network="${NETWORK_ID.slice(0, 12)}"\\} 1`));
  assert.match(body, /tsnet_pool_addresses_allocated\{pool="LocalDefault\/10.77.0.0\/24"\} 2/);
});

test("bad admin requests get 4xx with a reason, and the daemon keeps serving", async () => {
  const cases: Array<[string, string, number, RegExp]> = [
    ["GET", "/v1/nope", 404, /no such admin path/],
    ["DELETE", "/v1/status", 405, /takes GET/],
    ["GET", "/v1/status?x=1", 400, /"x" is not accepted/],
    ["GET", "/v1/ipam", 400, /"network" .* is required/],
    ["POST", "/v1/gc?apply=maybe", 400, /true or false/],
    ["POST", "/v1/gc?settleMs=999999", 400, /0-60000/],
    ["GET", "/v1/ipam?network=a&network=b", 400, /given twice/],
  ];
  for (const [method, path, status, message] of cases) {
    const reply = await raw(admin, method, path);
    assert.is(reply.status, status, `${method} ${path}: ${reply.body}`);
    assert.match((JSON.parse(reply.body) as { error: string }).error, message);
  }
  assert.is((await raw(admin, "GET", "/v1/status")).status, 200);
  assert.is((await callPlugin(plugin, "/Plugin.Activate")).status, 200);
});

test("any method, path and query gets 200 or a 4xx with an error, never a 500; the daemon keeps answering", async () => {
  const paths = ["/v1/status", "/v1/networks", "/v1/pools", "/v1/ipam", "/metrics", "/v1/gc"];
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH"),
      fc.oneof(
        fc.constantFrom(...paths),
        fc.webPath().map((path) => (path.startsWith("/") ? path : `/${path}`)),
      ),
      fc.dictionary(fc.constantFrom("network", "apply", "settleMs", "x", ""), fc.string({ maxLength: 20 }), {
        maxKeys: 3,
      }),
      async (method, path, query) => {
        // a real gc with apply waits 11 s to settle: not what this property is about
        if (path === "/v1/gc" && method === "POST") return;
        const search = new URLSearchParams(query).toString();
        const reply = await raw(admin, method, search === "" ? path : `${path}?${search}`);
        if (reply.status === 200) return;
        assert.ok(
          [400, 404, 405, 409].includes(reply.status),
          `${method} ${path}?${search}: ${reply.status} ${reply.body}`,
        );
        assert.type((JSON.parse(reply.body) as { error: unknown }).error, "string");
      },
    ),
    { numRuns: 300 },
  );
  assert.is((await raw(admin, "GET", "/v1/status")).status, 200);
  assert.is((await callPlugin(plugin, "/Plugin.Activate")).status, 200);
});

test("tsnet gc: dry run lists an orphan bridge, --apply through the daemon removes it; owned links stay", async () => {
  const orphan = `tsbr-${randomBytes(5).toString("hex")}`;
  execFileSync("ip", ["link", "add", orphan, "type", "bridge"]);
  try {
    const dry = await cli(["gc", "--admin-socket", admin]);
    assert.is(dry.code, 0, dry.stderr);
    assert.ok(dry.stdout.includes(orphan), dry.stdout);
    assert.match(dry.stdout, /dry run/);
    assert.ok(!dry.stdout.includes(`tsbr-${NETWORK_ID.slice(0, 10)}`), "the network's own bridge is not an orphan");
    assert.match(execFileSync("ip", ["-o", "link", "show"], { encoding: "utf8" }), new RegExp(orphan));
    const applied = await cli(["gc", "--apply", "--settle-ms", "50", "--admin-socket", admin, "--json"]);
    assert.is(applied.code, 0, applied.stderr);
    const report = JSON.parse(applied.stdout) as { mode: string; removed: string[] };
    assert.is(report.mode, "daemon");
    assert.ok(report.removed.includes(orphan));
    const links = execFileSync("ip", ["-o", "link", "show"], { encoding: "utf8" });
    assert.not.match(links, new RegExp(orphan));
    assert.match(links, new RegExp(`tsbr-${NETWORK_ID.slice(0, 10)}`));
    // The endpoint's host veth (a pool pair, named by its record as `tsnet ls` shows it) stays too.
    const listing = JSON.parse((await cli(["ls", "--admin-socket", admin, "--json"])).stdout) as {
      networks: Array<{ endpoints: Array<{ id: string; hostVeth: string }> }>;
    };
    const hostVeth = listing.networks[0]?.endpoints.find((endpoint) => endpoint.id === ENDPOINT_ID)?.hostVeth;
    assert.ok(hostVeth !== undefined && links.includes(`: ${hostVeth}@`), `${hostVeth} in ${links}`);
  } finally {
    execFileSync("sh", ["-c", `ip link delete ${orphan} 2>/dev/null || true`]);
  }
});

test("gc --offline is refused while the daemon holds the state dir, with what to do", async () => {
  const result = await cli(["gc", "--offline", "--state-dir", join(dir, "state"), "--admin-socket", admin]);
  assert.is(result.code, 1);
  assert.match(result.stderr, /locked by pid/);
  assert.match(result.stderr, /without --offline/);
});

test("tsnet doctor reports the daemon, sockets and lock as ok, and exits 1 only with a FAIL line", async () => {
  const result = await cli(["doctor", "--admin-socket", admin]);
  assert.match(result.stdout, /\[ok {2}\] daemon: pid \d+/);
  assert.match(result.stdout, /\[ok {2}\] socket: plugin: .* mode 660/);
  assert.match(result.stdout, /\[ok {2}\] socket: admin: .* mode 600/);
  assert.match(result.stdout, /\[ok {2}\] state dir lock: .* held by the daemon/);
  assert.match(result.stdout, /\[ok {2}\] kernel: bridge/);
  assert.is(result.code, result.stdout.includes("[FAIL]") ? 1 : 0, result.stdout);
});

test.run();

const down = suite("without a daemon");

down("status, ls, ipam show and gc say the daemon is not running and exit 1", async () => {
  const missing = join(tmpdir(), `tsnet-none-${randomBytes(4).toString("hex")}.sock`);
  for (const args of [["status"], ["ls"], ["ipam", "show", "abcd"], ["gc"]]) {
    const result = await cli([...args, "--admin-socket", missing]);
    assert.is(result.code, 1, args.join(" "));
    assert.match(result.stderr, /cannot reach the tsnet daemon at .*: no socket there/);
  }
});

down("doctor exits 1 and says how to start the daemon", async () => {
  const missing = join(tmpdir(), `tsnet-none-${randomBytes(4).toString("hex")}.sock`);
  const result = await cli(["doctor", "--admin-socket", missing, "--state-dir", join(tmpdir(), "tsnet-no-state")]);
  assert.is(result.code, 1);
  assert.match(result.stdout, /\[FAIL\] daemon: /);
  assert.match(result.stdout, /start it: tsnet serve/);
});

down("gc --offline removes an orphan with the state dir free, and says so", async () => {
  const state = await mkdtemp(join(tmpdir(), "tsnet-gc-offline-"));
  const orphan = `tsve-${randomBytes(5).toString("hex")}`;
  execFileSync("ip", ["link", "add", orphan, "type", "veth", "peer", "name", `tsvp-${orphan.slice(5)}`]);
  try {
    const dry = await cli(["gc", "--offline", "--state-dir", state]);
    assert.is(dry.code, 0, dry.stderr);
    assert.ok(dry.stdout.includes(orphan));
    const applied = await cli(["gc", "--offline", "--apply", "--state-dir", state]);
    assert.is(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /offline/);
    assert.not.match(execFileSync("ip", ["-o", "link", "show"], { encoding: "utf8" }), new RegExp(orphan.slice(5)));
  } finally {
    execFileSync("sh", ["-c", `ip link delete ${orphan} 2>/dev/null || true`]);
    await rm(state, { recursive: true, force: true });
  }
});

down.run();

// The tsnet command against the real daemon and a real Docker Engine: status, ls, ipam show (by Docker network name),
// metrics, doctor and gc over the daemon's admin socket, and the admin socket's refusals.
import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  CLI_MAIN,
  canPing,
  cleanup,
  createNetwork,
  ensureDocker,
  fixture,
  freeSubnet,
  type RunningDaemon,
  runContainer,
  startDaemon,
  tempDir,
} from "./harness.js";

interface Setup {
  daemon: RunningDaemon;
  admin: string;
}

/** Runs the built CLI with args; resolves with exit code and output, never rejects. */
function tsnet(args: string[]): { code: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(process.execPath, [CLI_MAIN, ...args], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr: "" };
  } catch (error) {
    const failed = error as { status: number | null; stdout: string; stderr: string };
    return { code: failed.status ?? -1, stdout: failed.stdout, stderr: failed.stderr };
  }
}

function adminGet(socketPath: string, method: string, path: string): Promise<{ status: number; body: string }> {
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

const test = suite("tsnet command");
const setup = fixture(async (): Promise<Setup> => {
  await ensureDocker();
  const admin = join(tempDir("admin"), "admin.sock");
  const daemon = await startDaemon({ args: ["--admin-socket", admin] });
  return { daemon, admin };
});
test.before(setup.setup);
test.after(async () => {
  await cleanup();
});

test("status and ls show what Docker created through the plugin; ipam show finds it by Docker's name", async () => {
  const { daemon, admin } = setup.get();
  assert.is(statSync(admin).mode & 0o777, 0o600);
  const subnet = await freeSubnet();
  const network = await createNetwork({ driver: daemon.name, ipamDriver: daemon.name, subnets: [subnet] });
  const a = await runContainer({ network: network.name });
  const b = await runContainer({ network: network.name });
  assert.ok(await canPing(a.name, b.name));

  const status = JSON.parse(tsnet(["status", "--json", "--admin-socket", admin]).stdout) as Record<string, unknown>;
  assert.is(status.pluginName, daemon.name);
  assert.is(status.pid, daemon.pid);
  assert.equal(status.counts, { networks: 1, endpoints: 2, pools: 1, addresses: 3 });

  const ls = tsnet(["ls", "--admin-socket", admin]);
  assert.is(ls.code, 0, ls.stderr);
  assert.ok(ls.stdout.includes(network.id.slice(0, 12)), ls.stdout);
  assert.match(ls.stdout, new RegExp(`LocalDefault/${subnet.replace(/\./g, "\\.")}\\s+-\\s+3\\s+251`));

  // the daemon never learns network names: the CLI asks Docker's API
  const shown = tsnet(["ipam", "show", network.name, "--admin-socket", admin, "--json"]);
  assert.is(shown.code, 0, shown.stderr);
  const pools = JSON.parse(shown.stdout) as Array<{ pool: string; allocations: string[]; networkIds: string[] }>;
  assert.is(pools[0]?.pool, subnet);
  assert.equal(pools[0]?.networkIds, [network.id]);
  assert.is(pools[0]?.allocations.length, 3);
});

test("metrics count Docker's calls by call and status", async () => {
  const { admin } = setup.get();
  const { status, body } = await adminGet(admin, "GET", "/metrics");
  assert.is(status, 200);
  assert.match(body, /tsnet_requests_total\{call="NetworkDriver.CreateNetwork",status="200"\} 1/);
  assert.match(body, /tsnet_requests_total\{call="NetworkDriver.Join",status="200"\} 2/);
  assert.match(body, /tsnet_request_duration_seconds_count\{call="IpamDriver.RequestAddress"\} \d+/);
  assert.match(body, /tsnet_endpoints\{network="[0-9a-f]{12}"\} 2/);
});

test("bad admin requests get a 4xx and the daemon keeps serving Docker", async () => {
  const { daemon, admin } = setup.get();
  for (const [method, path, status] of [
    ["GET", "/../../etc/passwd", 404],
    ["PUT", "/v1/status", 405],
    ["GET", "/v1/pools?limit=5", 400],
    ["POST", "/v1/gc?apply=yes", 400],
  ] as const) {
    assert.is((await adminGet(admin, method, path)).status, status, `${method} ${path}`);
  }
  const network = await createNetwork({ driver: daemon.name, ipamDriver: daemon.name, subnets: [await freeSubnet()] });
  assert.ok(network.id.length > 0);
});

test("gc dry run through the daemon lists nothing of other daemons and exits 0; doctor checks the sockets and lock", async () => {
  const { admin } = setup.get();
  const gc = tsnet(["gc", "--json", "--admin-socket", admin]);
  assert.is(gc.code, 0, gc.stderr);
  const report = JSON.parse(gc.stdout) as { mode: string; applied: boolean; orphans: Array<{ name: string }> };
  assert.is(report.mode, "daemon");
  assert.is(report.applied, false);
  assert.equal(report.orphans, [], "a running daemon with its own link group and tables has no orphans");
  const doctor = tsnet(["doctor", "--json", "--admin-socket", admin]);
  const checks = JSON.parse(doctor.stdout) as Array<{ name: string; status: string; detail: string }>;
  const byName = new Map(checks.map((check) => [check.name, check]));
  assert.is(byName.get("daemon")?.status, "ok");
  assert.is(byName.get("socket: plugin")?.status, "ok", byName.get("socket: plugin")?.detail);
  assert.is(byName.get("socket: admin")?.status, "ok");
  assert.is(byName.get("state dir lock")?.status, "ok");
  assert.is(byName.get("docker: DOCKER-USER")?.status, "ok", byName.get("docker: DOCKER-USER")?.detail);
  assert.is(doctor.code, checks.some((check) => check.status === "problem") ? 1 : 0);
});

test("after the daemon stops, status says so and exits 1", async () => {
  const { admin } = setup.get();
  await cleanup(); // containers and networks first, while the plugin answers; then the daemon
  const result = tsnet(["status", "--admin-socket", admin]);
  assert.is(result.code, 1);
  assert.match(result.stderr, /cannot reach the tsnet daemon/);
});

test.run();

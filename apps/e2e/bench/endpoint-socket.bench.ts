/**
 * Endpoint life cycle THROUGH THE SOCKET of the real daemon (`tsnet serve`, bridge driver + IPAM over the lmdb
 * store), sent as dockerd sends it: HTTP/1.1 POSTs with keep-alive on the plugin's unix socket, CreateNetwork once,
 * then per endpoint CreateEndpoint + Join, then Leave + DeleteEndpoint. Beside it, in the same run, the same
 * kernel work done by spawning `ip` (veth pair, host end on the bridge and up; then delete). Median and p99 in ms.
 * Runs as root in the host namespace with per-run names; everything is removed at the end. Asserts nothing.
 * (No GetCapabilities in the loop: dockerd sends it once per dockerd start, and the daemon takes it as the cue to
 * reconcile with Docker, which would release this bench's network, unknown to Docker.)
 *
 *   pnpm --filter @tsnet/e2e bench            (ROUNDS=N, default 300; PACE_MS=N between rounds, default 25)
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanup, freeSubnet, startDaemon } from "../src/harness.js";

const rounds = Number(process.env.ROUNDS ?? 300);
const paceMs = Number(process.env.PACE_MS ?? 25);
const warmup = 20;

type Stats = { median: number; p99: number };

function stats(samples: readonly number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { median: at(0.5), p99: at(0.99) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A plugin client like dockerd's: one keep-alive connection, JSON bodies, the docker plugin content type. */
function pluginClient(socketPath: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  return (call: string, body: unknown): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const payload = JSON.stringify(body);
      const req = request(
        {
          socketPath,
          agent,
          method: "POST",
          path: `/${call}`,
          headers: {
            "Content-Type": "application/vnd.docker.plugins.v1.2+json",
            Accept: "application/vnd.docker.plugins.v1.2+json",
            "Content-Length": Buffer.byteLength(payload),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            if (res.statusCode !== 200) reject(new Error(`${call}: ${res.statusCode} ${text}`));
            else resolve(text === "" ? {} : JSON.parse(text));
          });
        },
      );
      req.on("error", reject);
      req.end(payload);
    });
}

/**
 * The floor under any plugin call on this machine: a plain node:http server in another process on a unix socket,
 * answering `{}`, called the same way and at the same pace. Resolves with its round trip stats.
 */
async function plainHttpFloor(): Promise<Stats> {
  const dir = await mkdtemp(join(tmpdir(), "tsnet-bench-"));
  const socketPath = join(dir, "floor.sock");
  const server = spawn(
    process.execPath,
    [
      "-e",
      `require("node:http").createServer((q, s) => { q.resume(); q.on("end", () => s.end("{}")); })
        .listen(${JSON.stringify(socketPath)}, () => console.log("ready"));`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  try {
    await new Promise<void>((resolve, reject) => {
      server.stdout?.once("data", () => resolve());
      server.once("exit", (code) => reject(new Error(`floor server exited ${code}`)));
    });
    const call = pluginClient(socketPath);
    const samples: number[] = [];
    for (let i = 0; i < rounds + warmup; i++) {
      const started = performance.now();
      await call("Floor.Call", {});
      if (i >= warmup) samples.push(performance.now() - started);
      await sleep(paceMs);
    }
    return stats(samples);
  } finally {
    server.kill();
    await rm(dir, { recursive: true, force: true });
  }
}

function ip(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("ip", args, (error) => (error === null ? resolve() : reject(error)));
  });
}

const id = () => randomBytes(32).toString("hex");
const noPorts = { "com.docker.network.endpoint.exposedports": [], "com.docker.network.portmap": [] };

async function throughSocket(call: ReturnType<typeof pluginClient>, subnet: string) {
  const networkId = id();
  await call("NetworkDriver.CreateNetwork", {
    NetworkID: networkId,
    Options: { "com.docker.network.enable_ipv6": false, "com.docker.network.generic": {} },
    IPv4Data: [{ AddressSpace: "LocalDefault", Pool: `${subnet}.0/24`, Gateway: `${subnet}.1/24`, AuxAddresses: {} }],
    IPv6Data: [],
  });
  const createJoin: number[] = [];
  const createOnly: number[] = [];
  const leaveDelete: number[] = [];
  const deleteOnly: number[] = [];
  const roundTrip: number[] = [];
  try {
    for (let i = 0; i < rounds + warmup; i++) {
      const endpointId = id();
      const ref = { NetworkID: networkId, EndpointID: endpointId };
      const r0 = performance.now();
      await call("NetworkDriver.EndpointOperInfo", { NetworkID: networkId, EndpointID: "0".repeat(64) });
      const r1 = performance.now();
      await sleep(paceMs);
      const t0 = performance.now();
      await call("NetworkDriver.CreateEndpoint", {
        ...ref,
        Interface: { Address: `${subnet}.${(i % 250) + 2}/24`, AddressIPv6: "", MacAddress: "" },
        Options: { ...noPorts },
      });
      const tc = performance.now();
      await call("NetworkDriver.Join", {
        ...ref,
        SandboxKey: `/var/run/docker/netns/${endpointId.slice(0, 12)}`,
        Options: { ...noPorts },
      });
      const t1 = performance.now();
      await sleep(paceMs);
      const t2 = performance.now();
      await call("NetworkDriver.Leave", ref);
      const t3 = performance.now();
      await call("NetworkDriver.DeleteEndpoint", ref);
      const t4 = performance.now();
      if (i >= warmup) {
        createJoin.push(t1 - t0);
        createOnly.push(tc - t0);
        roundTrip.push(r1 - r0);
        leaveDelete.push(t4 - t2);
        deleteOnly.push(t4 - t3);
      }
      await sleep(paceMs);
    }
  } finally {
    await call("NetworkDriver.DeleteNetwork", { NetworkID: networkId });
  }
  return {
    createJoin: stats(createJoin),
    createOnly: stats(createOnly),
    leaveDelete: stats(leaveDelete),
    deleteOnly: stats(deleteOnly),
    roundTrip: stats(roundTrip),
  };
}

async function bySpawningIp(tag: string) {
  const bridge = `${tag}b`;
  await ip(["link", "add", bridge, "type", "bridge"]);
  await ip(["link", "set", bridge, "up"]);
  const createJoin: number[] = [];
  const deleteOnly: number[] = [];
  try {
    for (let i = 0; i < rounds + warmup; i++) {
      const host = `${tag}h${i}`;
      const t0 = performance.now();
      await ip(["link", "add", host, "mtu", "1500", "type", "veth", "peer", "name", `${tag}p${i}`, "mtu", "1500"]);
      await ip(["link", "set", host, "master", bridge, "up"]);
      const t1 = performance.now();
      await sleep(paceMs);
      const t2 = performance.now();
      await ip(["link", "del", host]);
      const t3 = performance.now();
      if (i >= warmup) {
        createJoin.push(t1 - t0);
        deleteOnly.push(t3 - t2);
      }
      await sleep(paceMs);
    }
  } finally {
    await ip(["link", "del", bridge]).catch(() => {});
  }
  return { createJoin: stats(createJoin), deleteOnly: stats(deleteOnly) };
}

function row(label: string, ours: Stats, spawned: Stats | undefined): string {
  const cell = (s: Stats) => `${s.median.toFixed(3).padStart(8)} ${s.p99.toFixed(3).padStart(8)}`;
  const base = spawned === undefined ? `${"-".padStart(8)} ${"-".padStart(8)}` : cell(spawned);
  const ratio = spawned === undefined ? "" : `${(spawned.median / ours.median).toFixed(1)}x`;
  return `${label.padEnd(34)} ${cell(ours)}   ${base}   ${ratio.padStart(6)}`;
}

// The daemon's reconciliation with Docker releases state Docker does not know once it is older than a grace
// period; this bench's network and endpoints exist only in the daemon, so the grace outlasts the run.
const daemon = await startDaemon({ env: { TSNET_RECONCILE_GRACE_MS: String(3_600_000) } });
try {
  const call = pluginClient(daemon.socketPath);
  // A /24 no route or Docker network uses (the bench sends no packet anyway), as "10.x.y".
  const subnet = (await freeSubnet()).replace(/\.0\/24$/, "");
  const ours = await throughSocket(call, subnet);
  const spawned = await bySpawningIp(`tsb${randomBytes(2).toString("hex")}`);
  const floor = await plainHttpFloor();
  console.log(`\nendpoint life cycle, ${rounds} rounds (+${warmup} warm-up), paced ${paceMs} ms, ms`);
  console.log(
    `${"".padEnd(34)} ${"socket".padStart(8)} ${"".padStart(8)}   ${"spawn ip".padStart(8)} ${"".padStart(8)}   ${"ip/ours".padStart(6)}`,
  );
  console.log(
    `${"".padEnd(34)} ${"median".padStart(8)} ${"p99".padStart(8)}   ${"median".padStart(8)} ${"p99".padStart(8)}`,
  );
  console.log(row("CreateEndpoint + Join", ours.createJoin, spawned.createJoin));
  console.log(row("DeleteEndpoint reply", ours.deleteOnly, spawned.deleteOnly));
  console.log(row("Leave + DeleteEndpoint", ours.leaveDelete, undefined));
  console.log(row("  of which CreateEndpoint", ours.createOnly, undefined));
  console.log(row("EndpointOperInfo (HTTP round trip)", ours.roundTrip, undefined));
  console.log(row("plain node:http round trip (floor)", floor, undefined));
  // The daemon logs each request with the time its handler took (`durationMs`): the driver's share of the above,
  // without the HTTP transport and the two processes' scheduling.
  const handled = (call: string) =>
    stats(
      daemon
        .output()
        .split("\n")
        .filter((line) => line.includes(`"call":"NetworkDriver.${call}"`))
        .map((line) => Number(/"durationMs":([0-9.]+)/.exec(line)?.[1]))
        .filter((value) => Number.isFinite(value))
        .slice(warmup),
    );
  console.log("inside the daemon (its request log's durationMs):");
  for (const call of ["CreateEndpoint", "Join", "Leave", "DeleteEndpoint", "EndpointOperInfo"]) {
    console.log(row(`  ${call}`, handled(call), undefined));
  }
  console.log("targets: create + join <= 1 ms median; DeleteEndpoint reply < 1 ms (spawn ip deletes synchronously)");
} finally {
  await daemon.stop();
  await cleanup();
}

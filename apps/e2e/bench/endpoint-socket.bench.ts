/**
 * Endpoint life cycle THROUGH THE SOCKET of the real daemon (`tsnet serve`, bridge driver + IPAM over the lmdb
 * store), sent as dockerd sends it: HTTP/1.1 POSTs with keep-alive on the plugin's unix socket, CreateNetwork once
 * per pass, then per endpoint CreateEndpoint + Join, then Leave + DeleteEndpoint. Beside it, in the same run, the
 * same kernel work done by spawning `ip` (veth pair, host end on the bridge and up; then delete). Median and p99 in
 * ms. Runs as root in the host namespace with per-run names; everything is removed at the end. Asserts nothing.
 * (No GetCapabilities in the loop: dockerd sends it once per dockerd start, and the daemon takes it as the cue to
 * reconcile with Docker, which would release this bench's network, unknown to Docker.)
 *
 * Four clients, one after the other (./clients.ts): a C client of blocking syscalls that adds next to nothing, so
 * its figures are the daemon's; Go's net/http, dockerd's own HTTP stack (needs `go`; Debian's golang-go), so its
 * figures are what dockerd waits; dockerd's bytes from Node (node:net), and node:http's client, for comparison with
 * earlier runs. The floor, a plain node:http server in another process answering `{}`, is called by each. Everything
 * is measured twice: paced (PACE_MS between calls, as `docker run`s come, so caches and CPUs go cold), then back to
 * back (BACK_TO_BACK_ROUNDS rounds without pauses: warm). About 2 minutes at the defaults.
 *
 *   pnpm --filter @tsnet/e2e bench     (ROUNDS=N, default 200; PACE_MS=N, default 25; BACK_TO_BACK_ROUNDS=N,
 *                                       default 100, 0 skips the back-to-back pass)
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanup, freeSubnet, startDaemon } from "../src/harness.js";
import {
  buildCompiledClients,
  call,
  compiledClient,
  leanClient,
  nodeHttpClient,
  type PluginClient,
} from "./clients.js";

const rounds = Number(process.env.ROUNDS ?? 200);
const paceMs = Number(process.env.PACE_MS ?? 25);
const backToBackRounds = Number(process.env.BACK_TO_BACK_ROUNDS ?? 100);
const warmup = Number(process.env.WARMUP ?? 20);

type Stats = { median: number; p99: number };

function stats(samples: readonly number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { median: at(0.5), p99: at(0.99) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How long one measured pass runs and how long it pauses between calls. */
type Pass = { rounds: number; paceMs: number };

/**
 * The floor under any plugin call on this machine: a plain node:http server in another process on a unix socket,
 * answering `{}` (Host not required: dockerd 20.10.24 sends an empty one). Resolves once it listens.
 */
async function startFloorServer() {
  const dir = await mkdtemp(join(tmpdir(), "tsnet-bench-"));
  const socketPath = join(dir, "floor.sock");
  const server = spawn(
    process.execPath,
    [
      "-e",
      `require("node:http").createServer({ requireHostHeader: false }, (q, s) => { q.resume(); q.on("end", () => s.end("{}")); })
        .listen(${JSON.stringify(socketPath)}, () => console.log("ready"));`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise<void>((resolve, reject) => {
    server.stdout?.once("data", () => resolve());
    server.once("exit", (code) => reject(new Error(`floor server exited ${code}`)));
  });
  return {
    socketPath,
    async stop() {
      server.kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Round trips to the floor server, called the same way and at the same pace as the daemon, clients interleaved. */
async function floorRoundTrip(clients: PerClient<PluginClient>, pass: Pass): Promise<PerClient<Stats>> {
  const present = CLIENT_NAMES.filter((name) => clients[name] !== undefined);
  const samples = new Map(present.map((name) => [name, [] as number[]]));
  for (let i = 0; i < pass.rounds + warmup; i++) {
    for (const name of present) {
      const [reply] = await (clients[name] as PluginClient).send([["Floor.Call", {}]]);
      if (i >= warmup && reply !== undefined) samples.get(name)?.push(reply.atMs);
      await sleep(pass.paceMs);
    }
  }
  return Object.fromEntries([...samples].map(([name, taken]) => [name, stats(taken)]));
}

function ip(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("ip", args, (error) => (error === null ? resolve() : reject(error)));
  });
}

const id = () => randomBytes(32).toString("hex");
const noPorts = { "com.docker.network.endpoint.exposedports": [], "com.docker.network.portmap": [] };

/** One client's share of a pass: its own network (its id tells its lines in the daemon's log) and its samples. */
interface Lane {
  client: PluginClient;
  networkId: string;
  /** "10.x.y" of the network's /24. */
  subnet: string;
  createJoin: number[];
  createOnly: number[];
  leaveDelete: number[];
  deleteOnly: number[];
  roundTrip: number[];
}

async function openLane(client: PluginClient): Promise<Lane> {
  // A /24 no route or Docker network uses (the bench sends no packet anyway), as "10.x.y".
  const subnet = (await freeSubnet()).replace(/\.0\/24$/, "");
  const networkId = id();
  await call(client, "NetworkDriver.CreateNetwork", {
    NetworkID: networkId,
    Options: { "com.docker.network.enable_ipv6": false, "com.docker.network.generic": {} },
    IPv4Data: [{ AddressSpace: "LocalDefault", Pool: `${subnet}.0/24`, Gateway: `${subnet}.1/24`, AuxAddresses: {} }],
    IPv6Data: [],
  });
  return { client, networkId, subnet, createJoin: [], createOnly: [], leaveDelete: [], deleteOnly: [], roundTrip: [] };
}

/** Sends a batch and returns when each reply had been read (ms from its start); throws unless all are 200. */
async function timed(client: PluginClient, calls: ReadonlyArray<readonly [string, unknown]>): Promise<number[]> {
  const replies = await client.send(calls);
  for (const [index, reply] of replies.entries()) {
    if (reply.status !== 200) throw new Error(`${calls[index]?.[0]}: ${reply.status} ${reply.body}`);
  }
  return replies.map((reply) => reply.atMs);
}

/** Round `i` of one lane: a no-op call, then CreateEndpoint + Join, then Leave + DeleteEndpoint, paced. */
async function laneRound(lane: Lane, i: number, pass: Pass): Promise<void> {
  const { client, networkId, subnet } = lane;
  const endpointId = id();
  const ref = { NetworkID: networkId, EndpointID: endpointId };
  const [noop = 0] = await timed(client, [
    ["NetworkDriver.EndpointOperInfo", { NetworkID: networkId, EndpointID: "0".repeat(64) }],
  ]);
  await sleep(pass.paceMs);
  // Join goes as soon as CreateEndpoint's reply is read, as dockerd sends it.
  const [created = 0, joined = 0] = await timed(client, [
    [
      "NetworkDriver.CreateEndpoint",
      {
        ...ref,
        Interface: { Address: `${subnet}.${(i % 250) + 2}/24`, AddressIPv6: "", MacAddress: "" },
        Options: { ...noPorts },
      },
    ],
    [
      "NetworkDriver.Join",
      { ...ref, SandboxKey: `/var/run/docker/netns/${endpointId.slice(0, 12)}`, Options: { ...noPorts } },
    ],
  ]);
  await sleep(pass.paceMs);
  const [left = 0, deleted = 0] = await timed(client, [
    ["NetworkDriver.Leave", ref],
    ["NetworkDriver.DeleteEndpoint", ref],
  ]);
  if (i >= warmup) {
    lane.createJoin.push(joined);
    lane.createOnly.push(created);
    lane.roundTrip.push(noop);
    lane.leaveDelete.push(deleted);
    lane.deleteOnly.push(deleted - left);
  }
  await sleep(pass.paceMs);
}

/** What one client measured in a pass. */
interface LaneResult {
  networkId: string;
  createJoin: Stats;
  createOnly: Stats;
  leaveDelete: Stats;
  deleteOnly: Stats;
  roundTrip: Stats;
}

/**
 * One pass of the life cycle through the socket with every client, their rounds interleaved (round i of each
 * client, then round i + 1 of each), so that no client gets a warmer or quieter daemon than another.
 */
async function throughSocket(clients: PerClient<PluginClient>, pass: Pass): Promise<PerClient<LaneResult>> {
  const lanes: Array<[ClientName, Lane]> = [];
  try {
    for (const name of CLIENT_NAMES) {
      const client = clients[name];
      if (client !== undefined) lanes.push([name, await openLane(client)]);
    }
    for (let i = 0; i < pass.rounds + warmup; i++) {
      for (const [, lane] of lanes) await laneRound(lane, i, pass);
    }
  } finally {
    for (const [, lane] of lanes) {
      await call(lane.client, "NetworkDriver.DeleteNetwork", { NetworkID: lane.networkId });
    }
  }
  const results: PerClient<LaneResult> = {};
  for (const [name, lane] of lanes) {
    results[name] = {
      networkId: lane.networkId,
      createJoin: stats(lane.createJoin),
      createOnly: stats(lane.createOnly),
      leaveDelete: stats(lane.leaveDelete),
      deleteOnly: stats(lane.deleteOnly),
      roundTrip: stats(lane.roundTrip),
    };
  }
  return results;
}

async function bySpawningIp(tag: string, pass: Pass) {
  const bridge = `${tag}b`;
  await ip(["link", "add", bridge, "type", "bridge"]);
  await ip(["link", "set", bridge, "up"]);
  const createJoin: number[] = [];
  const deleteOnly: number[] = [];
  try {
    for (let i = 0; i < pass.rounds + warmup; i++) {
      const host = `${tag}h${i}`;
      const t0 = performance.now();
      await ip(["link", "add", host, "mtu", "1500", "type", "veth", "peer", "name", `${tag}p${i}`, "mtu", "1500"]);
      await ip(["link", "set", host, "master", bridge, "up"]);
      const t1 = performance.now();
      await sleep(pass.paceMs);
      const t2 = performance.now();
      await ip(["link", "del", host]);
      const t3 = performance.now();
      if (i >= warmup) {
        createJoin.push(t1 - t0);
        deleteOnly.push(t3 - t2);
      }
      await sleep(pass.paceMs);
    }
  } finally {
    await ip(["link", "del", bridge]).catch(() => {});
  }
  return { createJoin: stats(createJoin), deleteOnly: stats(deleteOnly) };
}

const CALLS = ["CreateEndpoint", "Join", "Leave", "DeleteEndpoint", "EndpointOperInfo"] as const;
/** The clients, in the order they run and print; see ./clients.ts. */
const CLIENT_NAMES = ["C", "Go net/http", "Node lean", "node:http"] as const;
type ClientName = (typeof CLIENT_NAMES)[number];
type PerClient<T> = Partial<Record<ClientName, T>>;

/** Everything measured in one pass, per client where a client is involved. */
interface PassResult {
  pass: Pass;
  bySocket: PerClient<LaneResult>;
  floor: PerClient<Stats>;
  spawned: Awaited<ReturnType<typeof bySpawningIp>>;
}

const cell = (s: Stats | undefined) =>
  s === undefined
    ? `${"-".padStart(7)} ${"-".padStart(7)}`
    : `${s.median.toFixed(3).padStart(7)} ${s.p99.toFixed(3).padStart(7)}`;
const line = (label: string, cells: string[]) =>
  `${label.padEnd(34)} ${cells.map((text) => text.padStart(15)).join("  ")}`.trimEnd();

function printPass({ pass, bySocket, floor, spawned }: PassResult): void {
  const pace = pass.paceMs === 0 ? "back to back" : `paced ${pass.paceMs} ms`;
  console.log(`\nendpoint life cycle, ${pass.rounds} rounds (+${warmup} warm-up), ${pace}, ms`);
  console.log(line("client:", [...CLIENT_NAMES, "spawn ip"]));
  console.log(
    line(
      "",
      [...CLIENT_NAMES, "spawn ip"].map(() => "median     p99"),
    ),
  );
  const row = (label: string, pick: (result: LaneResult) => Stats, ip?: Stats) =>
    console.log(
      line(label, [
        ...CLIENT_NAMES.map((name) => cell(bySocket[name] === undefined ? undefined : pick(bySocket[name]))),
        ...(ip === undefined ? [] : [cell(ip)]),
      ]),
    );
  row("CreateEndpoint + Join", (r) => r.createJoin, spawned.createJoin);
  row("DeleteEndpoint reply", (r) => r.deleteOnly, spawned.deleteOnly);
  row("Leave + DeleteEndpoint", (r) => r.leaveDelete);
  row("  of which CreateEndpoint", (r) => r.createOnly);
  row("EndpointOperInfo (HTTP round trip)", (r) => r.roundTrip);
  console.log(
    line(
      "plain node:http server (floor)",
      CLIENT_NAMES.map((name) => cell(floor[name])),
    ),
  );
  // the driver's share of the above, without the HTTP transport and the two processes' scheduling
  console.log("inside the daemon (its request log's durationMs):");
  for (const method of CALLS) {
    const handledBy = (name: ClientName) => {
      const networkId = bySocket[name]?.networkId;
      return networkId === undefined ? undefined : handled(networkId, method);
    };
    console.log(
      line(
        `  ${method}`,
        CLIENT_NAMES.map((name) => cell(handledBy(name))),
      ),
    );
  }
  const c = bySocket.C?.createJoin.median;
  if (c !== undefined) {
    console.log(`spawn ip / C client, create + join: ${(spawned.createJoin.median / c).toFixed(1)}x`);
  }
}

// The daemon's reconciliation with Docker releases state Docker does not know once it is older than a grace
// period; this bench's networks and endpoints exist only in the daemon, so the grace outlasts the run.
// The daemon logs to a file, as it would to journald: through a pipe, each log line would wake this process, the
// client being timed, right when it handles a reply.
const daemon = await startDaemon({ env: { TSNET_RECONCILE_GRACE_MS: String(3_600_000) }, outputToFile: true });

/**
 * The handling times the daemon logged for one call on one pass's network (its lines carry the network id), warm-up
 * left out. Read after all passes, so that the last lines of a pass have arrived from the daemon's stderr.
 */
function handled(networkId: string, call: string): Stats {
  return stats(
    daemon
      .output()
      .split("\n")
      .filter((entry) => entry.includes(`"call":"NetworkDriver.${call}"`))
      .filter((entry) => entry.includes(`"networkId":"${networkId.slice(0, 12)}"`))
      .map((entry) => Number(/"durationMs":([0-9.]+)/.exec(entry)?.[1]))
      .filter((value) => Number.isFinite(value))
      .slice(warmup),
  );
}

/** Runs `work` with one client of each kind on `socketPath`, closed afterwards. */
async function withClients<T>(
  makers: PerClient<(socketPath: string) => PluginClient>,
  socketPath: string,
  work: (clients: PerClient<PluginClient>) => Promise<T>,
): Promise<T> {
  const clients: PerClient<PluginClient> = {};
  try {
    for (const name of CLIENT_NAMES) {
      const make = makers[name];
      if (make !== undefined) clients[name] = make(socketPath);
    }
    return await work(clients);
  } finally {
    for (const client of Object.values(clients)) client.close();
  }
}

/** One pass: the life cycle with all clients interleaved; `ip`; the floor with all clients interleaved. */
async function measure(
  pass: Pass,
  floorSocketPath: string,
  makers: PerClient<(socketPath: string) => PluginClient>,
): Promise<PassResult> {
  const bySocket = await withClients(makers, daemon.socketPath, (clients) => throughSocket(clients, pass));
  const spawned = await bySpawningIp(`tsb${randomBytes(2).toString("hex")}`, pass);
  const floor = await withClients(makers, floorSocketPath, (clients) => floorRoundTrip(clients, pass));
  return { pass, bySocket, spawned, floor };
}

let floorServer: Awaited<ReturnType<typeof startFloorServer>> | undefined;
const buildDirectory = await mkdtemp(join(tmpdir(), "tsnet-bench-clients-"));
try {
  const built = await buildCompiledClients(buildDirectory);
  if (built.go === undefined) console.log(`Go client skipped (apt-get install golang-go): ${built.goMissing}`);
  const clients: PerClient<(socketPath: string) => PluginClient> = {
    C: (socketPath) => compiledClient(built.c, socketPath),
    ...(built.go === undefined
      ? {}
      : { "Go net/http": (socketPath: string) => compiledClient(built.go as string, socketPath) }),
    "Node lean": leanClient,
    "node:http": nodeHttpClient,
  };
  floorServer = await startFloorServer();
  const paced = await measure({ rounds, paceMs }, floorServer.socketPath, clients);
  // warm: the same without pauses (skipped when the paced pass already was back to back)
  const warm =
    paceMs > 0 && backToBackRounds > 0
      ? await measure({ rounds: backToBackRounds, paceMs: 0 }, floorServer.socketPath, clients)
      : undefined;
  printPass(paced);
  if (warm !== undefined) printPass(warm);
  console.log("\ntargets: create + join <= 1 ms median; DeleteEndpoint reply < 1 ms (spawn ip deletes synchronously)");
} finally {
  await floorServer?.stop();
  await daemon.stop();
  await cleanup();
  await rm(buildDirectory, { recursive: true, force: true });
}

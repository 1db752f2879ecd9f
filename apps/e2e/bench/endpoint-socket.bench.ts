/**
 * Endpoint life cycle THROUGH THE SOCKET of the real daemon (`tsnet serve`, bridge driver + IPAM over the lmdb
 * store), sent as dockerd sends it: HTTP/1.1 POSTs with keep-alive on the plugin's unix socket, CreateNetwork once
 * per pass, then per endpoint CreateEndpoint + Join, then Leave + DeleteEndpoint. Beside it, in the same run, the
 * same kernel work done by spawning `ip` (veth pair, host end on the bridge and up; then delete). Median and p99 in
 * ms. Runs as root in the host namespace with per-run names; everything is removed at the end. Asserts nothing.
 * (No GetCapabilities in the loop: dockerd sends it once per dockerd start, and the daemon takes it as the cue to
 * reconcile with Docker, which would release this bench's network, unknown to Docker.)
 *
 * Two clients, one after the other. First a lean one that writes dockerd's bytes on a raw `net` connection
 * ({@link leanClient}): its figures are the daemon's. Then node:http's client (`http.request`, keep-alive Agent),
 * for comparison: on the 2-vCPU VM it adds 0.1-0.4 ms of its own to each paced call, which dockerd's Go client does
 * not. The floor, a plain node:http server in another process answering `{}`, is called by both. Everything is
 * measured twice: paced (PACE_MS between calls, as `docker run`s come, so caches and CPUs go cold), then back to back
 * (BACK_TO_BACK_ROUNDS rounds without pauses: warm). About 75 s at the defaults.
 *
 *   pnpm --filter @tsnet/e2e bench     (ROUNDS=N, default 200; PACE_MS=N, default 25; BACK_TO_BACK_ROUNDS=N,
 *                                       default 100, 0 skips the back-to-back pass)
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { Agent, request } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dockerRequest } from "@tsnet/server/testing";
import { cleanup, freeSubnet, startDaemon } from "../src/harness.js";

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

/** Sends one plugin call and resolves with the parsed JSON reply; rejects on any status but 200. */
interface PluginClient {
  call(method: string, body: unknown): Promise<unknown>;
  close(): void;
}

/** node:http's client, as the bench used before: one keep-alive socket, JSON bodies, the plugin content type. */
function nodeHttpClient(socketPath: string): PluginClient {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const call = (method: string, body: unknown): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const payload = JSON.stringify(body);
      const req = request(
        {
          socketPath,
          agent,
          method: "POST",
          path: `/${method}`,
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
            if (res.statusCode !== 200) reject(new Error(`${method}: ${res.statusCode} ${text}`));
            else resolve(text === "" ? {} : JSON.parse(text));
          });
        },
      );
      req.on("error", reject);
      req.end(payload);
    });
  return { call, close: () => agent.destroy() };
}

/** One HTTP/1.1 response read off a connection. */
interface RawResponse {
  status: number;
  body: Buffer;
  /** Bytes after this response: none, as long as one request at a time is in flight. */
  rest: Buffer;
  /** The server closes the connection after this response (`Connection: close`, or HTTP/1.0 without keep-alive). */
  closes: boolean;
}

const CRLF = "\r\n";
const NOTHING = Buffer.alloc(0);

/**
 * The response at the front of `data`, or undefined while it is incomplete. `ended`: the server has closed the
 * connection, so no more bytes will come (which ends a body that has neither Content-Length nor chunks, and makes
 * any other incomplete response an error). Throws on what it cannot read correctly.
 */
function parseResponse(data: Buffer, ended: boolean): RawResponse | undefined {
  const incomplete = (): undefined => {
    if (ended) throw new Error(`connection closed in the middle of a response (${data.length} bytes received)`);
    return undefined;
  };
  const headEnd = data.indexOf(CRLF + CRLF);
  if (headEnd < 0) return incomplete();
  const [statusLine = "", ...fieldLines] = data.toString("latin1", 0, headEnd).split(CRLF);
  const statusMatch = /^HTTP\/1\.([01]) (\d{3})(?: |$)/.exec(statusLine);
  if (statusMatch === null) throw new Error(`not an HTTP/1.x status line: ${JSON.stringify(statusLine)}`);
  const status = Number(statusMatch[2]);
  const headers = new Map<string, string>();
  for (const line of fieldLines) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`malformed header line: ${JSON.stringify(line)}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const earlier = headers.get(name);
    headers.set(name, earlier === undefined ? value : `${earlier}, ${value}`);
  }
  const bodyStart = headEnd + 4;
  // 1xx (e.g. 103 Early Hints) is an interim response: the real one follows
  if (status < 200) return parseResponse(data.subarray(bodyStart), ended);
  const connection = (headers.get("connection") ?? "").toLowerCase();
  const closes = connection.includes("close") || (statusMatch[1] === "0" && !connection.includes("keep-alive"));
  const framed = (body: Buffer, end: number): RawResponse => ({ status, body, rest: data.subarray(end), closes });

  if (status === 204 || status === 304) return framed(NOTHING, bodyStart);
  const transferEncoding = headers.get("transfer-encoding");
  if (transferEncoding !== undefined) {
    if (transferEncoding.toLowerCase() !== "chunked") {
      throw new Error(`Transfer-Encoding ${JSON.stringify(transferEncoding)} is not handled`);
    }
    const chunked = readChunks(data, bodyStart);
    return chunked === undefined ? incomplete() : framed(chunked.body, chunked.end);
  }
  const contentLength = headers.get("content-length");
  if (contentLength !== undefined) {
    if (!/^\d+$/.test(contentLength)) throw new Error(`bad Content-Length: ${JSON.stringify(contentLength)}`);
    const end = bodyStart + Number(contentLength);
    return data.length < end ? incomplete() : framed(data.subarray(bodyStart, end), end);
  }
  // neither: the body runs until the server closes the connection (RFC 9112 §6.3)
  return ended ? { status, body: data.subarray(bodyStart), rest: NOTHING, closes: true } : undefined;
}

/** A chunked body starting at `start` (chunks, the last-chunk, trailer fields, empty line); undefined if incomplete. */
function readChunks(data: Buffer, start: number): { body: Buffer; end: number } | undefined {
  const chunks: Buffer[] = [];
  let at = start;
  for (;;) {
    const lineEnd = data.indexOf(CRLF, at);
    if (lineEnd < 0) return undefined;
    const sizeText = (data.toString("latin1", at, lineEnd).split(";")[0] ?? "").trim();
    if (!/^[0-9a-f]+$/i.test(sizeText)) throw new Error(`bad chunk size line at byte ${at}`);
    const size = Number.parseInt(sizeText, 16);
    at = lineEnd + 2;
    if (size === 0) break;
    if (data.length < at + size + 2) return undefined;
    if (data.toString("latin1", at + size, at + size + 2) !== CRLF) throw new Error(`chunk at byte ${at} overruns`);
    chunks.push(data.subarray(at, at + size));
    at += size + 2;
  }
  for (;;) {
    // trailer fields, ignored, up to an empty line
    const lineEnd = data.indexOf(CRLF, at);
    if (lineEnd < 0) return undefined;
    const empty = lineEnd === at;
    at = lineEnd + 2;
    if (empty) return { body: Buffer.concat(chunks), end: at };
  }
}

/** One keep-alive connection to the socket, carrying one request at a time. */
function openConnection(socketPath: string) {
  const socket = connect({ path: socketPath });
  let received: Buffer = NOTHING;
  /** The server closed its side or the socket failed: no further request on this connection. */
  let ended = false;
  let inFlight: { resolve: (response: RawResponse) => void; reject: (error: Error) => void } | undefined;
  /** A protocol violation seen while no request was in flight, for the next call to report. */
  let violation: Error | undefined;

  const fail = (error: Error) => {
    ended = true;
    socket.destroy();
    const waiting = inFlight;
    inFlight = undefined;
    if (waiting !== undefined) waiting.reject(error);
    else violation ??= error;
  };
  const settle = () => {
    if (inFlight === undefined) {
      if (received.length > 0) fail(new Error(`${received.length} bytes from the server with no request in flight`));
      return;
    }
    let response: RawResponse | undefined;
    try {
      response = parseResponse(received, ended);
    } catch (error) {
      fail(error as Error);
      return;
    }
    if (response === undefined) return;
    if (response.rest.length > 0) {
      fail(new Error(`${response.rest.length} bytes after the response to the one request in flight`));
      return;
    }
    received = NOTHING;
    if (response.closes) {
      ended = true;
      socket.end();
    }
    const waiting = inFlight;
    inFlight = undefined;
    waiting.resolve(response);
  };

  socket.on("data", (chunk: Buffer) => {
    received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
    settle();
  });
  socket.on("end", () => {
    ended = true;
    settle();
  });
  socket.on("error", (error) => {
    ended = true;
    const waiting = inFlight;
    inFlight = undefined;
    waiting?.reject(error);
  });
  socket.on("close", () => {
    ended = true;
    if (inFlight !== undefined) fail(new Error("connection closed before the response was complete"));
  });

  return {
    get violation(): Error | undefined {
      return violation;
    },
    get reusable(): boolean {
      return !ended;
    },
    exchange(requestBytes: Buffer): Promise<RawResponse> {
      return new Promise((resolve, reject) => {
        if (inFlight !== undefined) throw new Error("one request at a time per connection");
        inFlight = { resolve, reject };
        socket.write(requestBytes);
      });
    },
    close(): void {
      ended = true;
      socket.destroy();
    },
  };
}

/**
 * Stands in for dockerd, the plugin's real client: Go's net/http over the unix socket, whose own cost per call is a
 * few µs, far below node:http's client (a paced round trip to a raw `net` server on the 2-vCPU VM: 0.60 ms with
 * node:http's client, 0.23 ms with a raw socket). Like dockerd: one keep-alive connection, one request at a time,
 * a new connection when the server has closed the old one; the bytes are dockerd 20.10.24's (`dockerRequest`,
 * captured: empty Host, `User-Agent: Go-http-client/1.1`, Content-Length, `Accept:
 * application/vnd.docker.plugins.v1.2+json`; no Content-Type, and no Accept-Encoding since Docker's unix-socket
 * transport disables compression), the body json.Encoder's (JSON and a newline). It reads responses strictly
 * enough to be correct: Content-Length or chunked bodies split over any number of reads, and no stray byte.
 */
function leanClient(socketPath: string): PluginClient {
  let connection: ReturnType<typeof openConnection> | undefined;
  return {
    async call(method, body) {
      if (connection?.violation !== undefined) throw connection.violation;
      if (connection === undefined || !connection.reusable) connection = openConnection(socketPath);
      const requestBytes = Buffer.from(dockerRequest(`/${method}`, `${JSON.stringify(body)}\n`));
      const response = await connection.exchange(requestBytes);
      const text = response.body.toString("utf8");
      if (response.status !== 200) throw new Error(`${method}: ${response.status} ${text}`);
      return text === "" ? {} : JSON.parse(text);
    },
    close() {
      connection?.close();
    },
  };
}

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

/** Round trips to the floor server, called the same way and at the same pace as the daemon. */
async function floorRoundTrip(client: PluginClient, pass: Pass): Promise<Stats> {
  const samples: number[] = [];
  for (let i = 0; i < pass.rounds + warmup; i++) {
    const started = performance.now();
    await client.call("Floor.Call", {});
    if (i >= warmup) samples.push(performance.now() - started);
    await sleep(pass.paceMs);
  }
  return stats(samples);
}

function ip(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("ip", args, (error) => (error === null ? resolve() : reject(error)));
  });
}

const id = () => randomBytes(32).toString("hex");
const noPorts = { "com.docker.network.endpoint.exposedports": [], "com.docker.network.portmap": [] };

/** One pass of the life cycle through the socket, on a network of its own (its id tells its lines in the log). */
async function throughSocket(client: PluginClient, pass: Pass) {
  // A /24 no route or Docker network uses (the bench sends no packet anyway), as "10.x.y".
  const subnet = (await freeSubnet()).replace(/\.0\/24$/, "");
  const networkId = id();
  const { call } = client;
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
    for (let i = 0; i < pass.rounds + warmup; i++) {
      const endpointId = id();
      const ref = { NetworkID: networkId, EndpointID: endpointId };
      const r0 = performance.now();
      await call("NetworkDriver.EndpointOperInfo", { NetworkID: networkId, EndpointID: "0".repeat(64) });
      const r1 = performance.now();
      await sleep(pass.paceMs);
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
      await sleep(pass.paceMs);
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
      await sleep(pass.paceMs);
    }
  } finally {
    await call("NetworkDriver.DeleteNetwork", { NetworkID: networkId });
  }
  return {
    networkId,
    createJoin: stats(createJoin),
    createOnly: stats(createOnly),
    leaveDelete: stats(leaveDelete),
    deleteOnly: stats(deleteOnly),
    roundTrip: stats(roundTrip),
  };
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
/** One figure per client: the lean one (the figure that counts) and node:http's (for comparison). */
type PerClient<T> = { lean: T; nodeHttp: T };

/** Everything measured in one pass, per client where a client is involved. */
interface PassResult {
  pass: Pass;
  bySocket: PerClient<Awaited<ReturnType<typeof throughSocket>>>;
  floor: PerClient<Stats>;
  spawned: Awaited<ReturnType<typeof bySpawningIp>>;
}

const cell = (s: Stats | undefined) =>
  s === undefined
    ? `${"-".padStart(8)} ${"-".padStart(8)}`
    : `${s.median.toFixed(3).padStart(8)} ${s.p99.toFixed(3).padStart(8)}`;
const line = (label: string, lean: string, nodeHttp: string, spawned: string, ratio: string) =>
  `${label.padEnd(36)} ${lean.padStart(17)}   ${nodeHttp.padStart(17)}   ${spawned.padStart(17)}   ${ratio.padStart(7)}`.trimEnd();
const row = (label: string, lean: Stats, nodeHttp: Stats, spawned?: Stats) =>
  line(
    label,
    cell(lean),
    cell(nodeHttp),
    cell(spawned),
    spawned === undefined ? "" : `${(spawned.median / lean.median).toFixed(1)}x`,
  );

function printPass({ pass, bySocket: { lean, nodeHttp }, floor, spawned }: PassResult): void {
  const pace = pass.paceMs === 0 ? "back to back" : `paced ${pass.paceMs} ms`;
  console.log(`\nendpoint life cycle, ${pass.rounds} rounds (+${warmup} warm-up), ${pace}, ms`);
  console.log(line("", "lean client", "node:http client", "spawn ip", "ip/lean"));
  console.log(line("", "median      p99", "median      p99", "median      p99", ""));
  console.log(row("CreateEndpoint + Join", lean.createJoin, nodeHttp.createJoin, spawned.createJoin));
  console.log(row("DeleteEndpoint reply", lean.deleteOnly, nodeHttp.deleteOnly, spawned.deleteOnly));
  console.log(row("Leave + DeleteEndpoint", lean.leaveDelete, nodeHttp.leaveDelete));
  console.log(row("  of which CreateEndpoint", lean.createOnly, nodeHttp.createOnly));
  console.log(row("EndpointOperInfo (HTTP round trip)", lean.roundTrip, nodeHttp.roundTrip));
  console.log(row("plain node:http server (floor)", floor.lean, floor.nodeHttp));
  // the driver's share of the above, without the HTTP transport and the two processes' scheduling
  console.log("inside the daemon (its request log's durationMs):");
  for (const call of CALLS) {
    console.log(row(`  ${call}`, handled(lean.networkId, call), handled(nodeHttp.networkId, call)));
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

/** Runs `work` with a client made by `makeClient` on `socketPath`, closed afterwards. */
async function withClient<T>(
  makeClient: (socketPath: string) => PluginClient,
  socketPath: string,
  work: (client: PluginClient) => Promise<T>,
): Promise<T> {
  const client = makeClient(socketPath);
  try {
    return await work(client);
  } finally {
    client.close();
  }
}

/** One pass, one thing at a time: the life cycle with the lean client, then with node:http's; `ip`; the floor. */
async function measure(pass: Pass, floorSocketPath: string): Promise<PassResult> {
  const lifeCycle = (client: PluginClient) => throughSocket(client, pass);
  const bySocket = {
    lean: await withClient(leanClient, daemon.socketPath, lifeCycle),
    nodeHttp: await withClient(nodeHttpClient, daemon.socketPath, lifeCycle),
  };
  const spawned = await bySpawningIp(`tsb${randomBytes(2).toString("hex")}`, pass);
  const floorCall = (client: PluginClient) => floorRoundTrip(client, pass);
  const floor = {
    lean: await withClient(leanClient, floorSocketPath, floorCall),
    nodeHttp: await withClient(nodeHttpClient, floorSocketPath, floorCall),
  };
  return { pass, bySocket, spawned, floor };
}

let floorServer: Awaited<ReturnType<typeof startFloorServer>> | undefined;
try {
  floorServer = await startFloorServer();
  const paced = await measure({ rounds, paceMs }, floorServer.socketPath);
  // warm: the same without pauses (skipped when the paced pass already was back to back)
  const warm =
    paceMs > 0 && backToBackRounds > 0
      ? await measure({ rounds: backToBackRounds, paceMs: 0 }, floorServer.socketPath)
      : undefined;
  printPass(paced);
  if (warm !== undefined) printPass(warm);
  console.log("\ntargets: create + join <= 1 ms median; DeleteEndpoint reply < 1 ms (spawn ip deletes synchronously)");
} finally {
  await floorServer?.stop();
  await daemon.stop();
  await cleanup();
}

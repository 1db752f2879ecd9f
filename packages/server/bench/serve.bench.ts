/**
 * Requests/s and latency of one protocol call (IpamDriver.RequestAddress, trivial in-memory driver) through
 * createPluginApp + listen, side by side with a bare node:http server that parses the same JSON and answers the
 * same bytes. Both listen on unix sockets; the client runs in a child process (2 cores: server and client each get
 * one) and drives N keep-alive connections, one request in flight per connection, as dockerd does.
 *
 * Besides req/s it prints the server process's CPU time per request (user + system): on a shared 2-core machine
 * req/s swings with whatever else runs, CPU per request much less. "CPU vs bare" is bare's CPU/req divided by ours.
 *
 *   pnpm --filter @tsnet/server bench            (REQUESTS=40000 ROUNDS=3 to change the sizes)
 */
import { fork } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPluginApp } from "../src/app.js";
import { listen } from "../src/listen.js";
import { createCountingIpamDriver } from "../src/testing.js";

const PATH = "/IpamDriver.RequestAddress";
const BODY = `${JSON.stringify({ PoolID: "tsnet-local/10.99.0.0/24", Address: "", Options: null })}\n`;
const REQUEST = Buffer.from(
  `POST ${PATH} HTTP/1.1\r\nHost: \r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: ${Buffer.byteLength(BODY)}\r\n` +
    `Accept: application/vnd.docker.plugins.v1.2+json\r\n\r\n${BODY}`,
);

interface Job {
  socket: string;
  connections: number;
  requests: number;
}
interface Result {
  rps: number;
  p50: number;
  p99: number;
  /** Server process CPU (user + system) per request, µs: robust when other work shares the cores. */
  cpu?: number;
}

// ---------------------------------------------------------------------------------------------------------------
// client (child process)

function oneConnection(socketPath: string, count: () => boolean, latencies: number[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let buffer = "";
    let sentAt = 0;
    const send = (): void => {
      if (!count()) {
        socket.end();
        resolve();
        return;
      }
      sentAt = performance.now();
      socket.write(REQUEST);
    };
    socket.setEncoding("latin1");
    socket.on("connect", send);
    socket.on("error", reject);
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      for (;;) {
        const end = buffer.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = buffer.slice(0, end).toLowerCase();
        const at = head.indexOf("content-length:");
        const length = at < 0 ? 0 : Number.parseInt(head.slice(at + 15), 10);
        if (buffer.length < end + 4 + length) return;
        if (!head.startsWith("http/1.1 200")) {
          reject(new Error(`unexpected reply: ${buffer.slice(0, end + 4 + length)}`));
          return;
        }
        buffer = buffer.slice(end + 4 + length);
        latencies.push(performance.now() - sentAt);
        send();
      }
    });
  });
}

async function runJob(job: Job): Promise<Result> {
  let issued = 0;
  const take = (): boolean => issued++ < job.requests;
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(Array.from({ length: job.connections }, () => oneConnection(job.socket, take, latencies)));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? 0;
  return { rps: latencies.length / seconds, p50: at(0.5), p99: at(0.99) };
}

if (process.argv[2] === "client") {
  process.on("message", (job: Job) => {
    runJob(job).then(
      (result) => process.send?.(result),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
} else {
  await main();
}

// ---------------------------------------------------------------------------------------------------------------
// servers and report (parent process)

function bareServer(socketPath: string): Promise<Server> {
  const reply = JSON.stringify({ Address: "10.99.0.2/24", Data: {} });
  const server = createServer({ keepAliveTimeout: 60_000, requireHostHeader: false }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { PoolID?: unknown };
      if (typeof body.PoolID !== "string") {
        res.writeHead(400, { "content-type": "application/json" });
        res.end('{"Err":"bad"}');
        return;
      }
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(reply) });
      res.end(reply);
    });
  });
  return new Promise((resolve) => server.listen(socketPath, () => resolve(server)));
}

async function main(): Promise<void> {
  const requests = Number(process.env.REQUESTS ?? 30_000);
  const rounds = Number(process.env.ROUNDS ?? 3);
  const dir = await mkdtemp(join(tmpdir(), "tsnet-bench-"));
  // the in-memory driver answers a fixed address, so every server sends the same bytes
  const ipam = { ...createCountingIpamDriver(), requestAddress: async () => ({ Address: "10.99.0.2/24", Data: {} }) };
  const socket = await listen(createPluginApp({ ipamDriver: ipam }), join(dir, "socket.sock"));
  const direct = await listen(createPluginApp({ ipamDriver: ipam }), join(dir, "direct.sock"), { transport: "direct" });
  const hono = await listen(createPluginApp({ ipamDriver: ipam }), join(dir, "hono.sock"), { transport: "hono" });
  const bareSocket = join(dir, "bare.sock");
  const bare = await bareServer(bareSocket);
  const servers: Array<[name: string, socket: string]> = [
    ["tsnet listen() (socket, default)", socket.socketPath],
    ["tsnet listen() (direct node:http)", direct.socketPath],
    ["tsnet listen() via Hono adapter", hono.socketPath],
    ["bare node:http", bareSocket],
  ];
  const client = fork(new URL(import.meta.url).pathname, ["client"], { execArgv: process.execArgv });
  const ask = (job: Job): Promise<Result> =>
    new Promise((resolve) => {
      client.once("message", (result) => resolve(result as Result));
      client.send(job);
    });
  try {
    for (const [, socket] of servers) await ask({ socket, connections: 4, requests: 5_000 }); // warm-up
    const us = (ms: number): string => `${(ms * 1000).toFixed(0)} µs`;
    const rows: string[] = [];
    for (const connections of [1, 16]) {
      // best of `rounds`, taking the servers in turn so drift hits all of them
      const best = new Map<string, Result>();
      for (let round = 0; round < rounds; round++) {
        for (const [name, socket] of servers) {
          const before = process.cpuUsage();
          const result = await ask({ socket, connections, requests });
          const used = process.cpuUsage(before);
          result.cpu = (used.user + used.system) / requests;
          const previous = best.get(name);
          if (!previous || result.rps > previous.rps) best.set(name, result);
        }
      }
      const baseline = best.get("bare node:http");
      for (const [name] of servers) {
        const result = best.get(name);
        if (!result) continue;
        const ratio = baseline ? result.rps / baseline.rps : 0;
        const cpuRatio = baseline?.cpu && result.cpu ? baseline.cpu / result.cpu : 0;
        rows.push(
          `| ${String(connections).padStart(5)} | ${name.padEnd(31)} | ${result.rps.toFixed(0).padStart(7)} | ${us(result.p50).padStart(7)} | ${us(result.p99).padStart(7)} | ${ratio.toFixed(2).padStart(6)}x | ${`${(result.cpu ?? 0).toFixed(1)} µs`.padStart(9)} | ${cpuRatio.toFixed(2).padStart(6)}x |`,
        );
      }
    }
    console.log(
      `POST ${PATH} over a unix socket, ${requests} requests per run, best of ${rounds}, client in a child process, keep-alive`,
    );
    console.log(
      `| conns | ${"server".padEnd(31)} |   req/s |     p50 |     p99 | req/s vs bare | CPU/req | CPU vs bare |`,
    );
    console.log(`|------:|:${"-".repeat(31)}-|--------:|--------:|--------:|--------:|----------:|--------:|`);
    for (const row of rows) console.log(row);
  } finally {
    client.kill();
    await socket.close();
    await direct.close();
    await hono.close();
    await new Promise((resolve) => bare.close(resolve));
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * One endpoint = a veth pair, host end on a bridge, up (what CreateEndpoint does), then deleted.
 * Compares this package (one RTM_NEWLINK) with spawning `ip` three times and once, in the same run, inside a
 * network namespace of its own (re-execs itself under `unshare -n`). Prints median and p99, and ratios.
 */
import { execFile, spawnSync } from "node:child_process";
import { openNamespace } from "../src/namespace.js";
import { createLinkReaper } from "../src/reaper.js";
import { createVethPool } from "../src/veth-pool.js";

if (process.env.TSNET_BENCH_NETNS !== "1") {
  const result = spawnSync("unshare", ["-n", process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: "inherit",
    env: { ...process.env, TSNET_BENCH_NETNS: "1" },
  });
  process.exit(result.status ?? 1);
}

const ROUNDS = Number(process.env.ROUNDS ?? 200);
const BRIDGE = "bench-br";

function ip(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("ip", args, (error) => (error ? reject(error) : resolve()));
  });
}

function stats(samples: number[]): { median: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { median: at(0.5), p99: at(0.99) };
}

async function measure(
  label: string,
  create: (i: number) => Promise<void>,
  remove: (i: number) => Promise<void>,
): Promise<{ label: string; create: number[]; remove: number[] }> {
  const created: number[] = [];
  const removed: number[] = [];
  for (let i = 0; i < 10; i++) {
    await create(10_000 + i);
    await remove(10_000 + i);
  }
  for (let i = 0; i < ROUNDS; i++) {
    let started = performance.now();
    await create(i);
    created.push(performance.now() - started);
    started = performance.now();
    await remove(i);
    removed.push(performance.now() - started);
  }
  return { label, create: created, remove: removed };
}

const root = await openNamespace();
await root.links.setUp("lo");
await root.links.addBridge(BRIDGE, { mtu: 1500, up: true });
const host = (i: number) => `bh${i}`;
const peer = (i: number) => `bp${i}`;

// Pairs made ahead of time (the pool's refill happens between requests, not during them).
const pool = createVethPool(root.links, { size: ROUNDS + 10, refillDelayMs: 1e9 });
await pool.fill(1500);

const results = [
  await measure(
    "netlink, one request",
    (i) => root.links.addVethPair(host(i), peer(i), { mtu: 1500, master: BRIDGE, up: true }),
    (i) => root.links.delete(host(i)),
  ),
  await measure(
    "netlink, pooled pair",
    async (i) => {
      await pool.take(host(i), { mtu: 1500, master: BRIDGE, up: true });
    },
    (i) => root.links.delete(host(i)),
  ),
  await measure(
    "spawn ip x3",
    async (i) => {
      await ip(["link", "add", host(i), "mtu", "1500", "type", "veth", "peer", "name", peer(i), "mtu", "1500"]);
      await ip(["link", "set", host(i), "master", BRIDGE]);
      await ip(["link", "set", host(i), "up"]);
    },
    (i) => ip(["link", "del", host(i)]),
  ),
  await measure(
    "spawn ip x1",
    (i) =>
      ip([
        "link",
        "add",
        host(i),
        "mtu",
        "1500",
        "master",
        BRIDGE,
        "up",
        "type",
        "veth",
        "peer",
        "name",
        peer(i),
        "mtu",
        "1500",
      ]),
    (i) => ip(["link", "del", host(i)]),
  ),
];

// Deletion through the reaper: what DeleteEndpoint waits for (enqueue) and what the kernel spends (drain).
const reaper = createLinkReaper(root.links);
for (let i = 0; i < ROUNDS; i++)
  await root.links.addVethPair(host(i), peer(i), { mtu: 1500, master: BRIDGE, up: true });
const enqueues: number[] = [];
const drainStarted = performance.now();
for (let i = 0; i < ROUNDS; i++) {
  const started = performance.now();
  reaper.enqueue(host(i));
  enqueues.push(performance.now() - started);
}
await reaper.drain();
const drainMs = performance.now() - drainStarted;
await pool.close();
await root.close();

const base = results[0];
const fmt = (ms: number) => `${ms.toFixed(3)} ms`;
console.log(`endpoint lifecycle, ${ROUNDS} rounds, in a fresh netns (veth pair, host end on a bridge, up)`);
for (const phase of ["create", "remove"] as const) {
  const reference = base ? stats(base[phase]) : { median: 1, p99: 1 };
  // Removal is the same `ip link del` in both spawn variants: print it once.
  for (const result of phase === "remove" ? [results[0], results[2]].flatMap((r) => (r ? [r] : [])) : results) {
    const s = stats(result[phase]);
    const ratio = s.median / reference.median;
    console.log(
      `${phase.padEnd(6)} ${(phase === "remove" ? (result === base ? "netlink (worker thread)" : "spawn ip link del") : result.label).padEnd(24)} median ${fmt(s.median).padStart(10)}  p99 ${fmt(s.p99).padStart(10)}  ${ratio.toFixed(2)}x netlink`,
    );
  }
}
const e = stats(enqueues);
console.log(
  `remove via reaper: enqueue median ${fmt(e.median)} p99 ${fmt(e.p99)}; ${ROUNDS} links drained in ${fmt(drainMs)} ` +
    `(${fmt(drainMs / ROUNDS)} a link, ${(stats(base?.remove ?? [1]).median / (drainMs / ROUNDS)).toFixed(1)}x faster than one netlink delete each)`,
);

/**
 * Endpoint life cycle through the bridge driver on the real kernel (run under `unshare -n`): CreateEndpoint +
 * Join, then Leave + DeleteEndpoint, median and p99, beside the same kernel work done by spawning `ip` in the
 * same run. Patterns: a life cycle per container back to back (deletions of earlier endpoints run in the
 * background while the next ones are created), the same paced 25 ms apart (as `docker run`s are; the veth
 * pool refills between them), and a burst (create + join N, then delete N). Prints figures; asserts nothing.
 *
 *   pnpm --filter @tsnet/bridge bench          (ITERATIONS=500 to change the sample size)
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NftFirewall, openNamespace } from "@tsnet/kernel";
import type { CreateEndpointRequest } from "@tsnet/protocol";
import type { Store } from "@tsnet/store";
import { openLmdbStore } from "@tsnet/store";
import { MemoryStore } from "@tsnet/store/testing";
import { createBridgeDriver } from "../src/driver.js";
import { callContext, endpointOptions, endpointRequest, networkRequest } from "../src/testing.js";

const iterations = Number(process.env.ITERATIONS ?? 300);
const warmup = 20;

type Stats = { median: number; p99: number };

function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { median: at(0.5), p99: at(0.99) };
}

function ip(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("ip", args, (error) => (error === null ? resolve() : reject(error)));
  });
}

function address(i: number): string {
  return `10.250.${Math.floor(i / 250) % 250}.${(i % 250) + 2}/16`;
}

async function measureDriver(label: string, store: Store, vethPool: boolean) {
  const root = await openNamespace();
  const firewall = new NftFirewall({ names: { table: "tsbench", chain: "TSBENCH-FWD", comment: "tsbench" } });
  const driver = await createBridgeDriver({
    namespace: root,
    firewall,
    store,
    ...(vethPool ? {} : { vethPool: false }),
  });
  const network = networkRequest({
    ipv4Data: [{ AddressSpace: "LocalDefault", Pool: "10.250.0.0/16", Gateway: "10.250.0.1/16", AuxAddresses: {} }],
  });
  await driver.createNetwork(network, callContext());
  const createJoin = async (request: CreateEndpointRequest) => {
    const started = performance.now();
    await driver.createEndpoint(request, callContext());
    await driver.join({ ...request, SandboxKey: "", Options: endpointOptions() }, callContext());
    return performance.now() - started;
  };
  const leaveDelete = async (request: CreateEndpointRequest) => {
    await driver.leave(request, callContext());
    const started = performance.now();
    await driver.deleteEndpoint(request, callContext());
    return performance.now() - started;
  };
  // A life cycle per container, back to back, then paced 25 ms apart as `docker run`s are (time to refill the pool).
  const cycles = async (pauseMs: number) => {
    const figures = { createJoin: [] as number[], deleteReply: [] as number[] };
    for (let i = 0; i < warmup + iterations; i++) {
      if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
      const request = endpointRequest(network.NetworkID, { Address: address(i) });
      const up = await createJoin(request);
      const down = await leaveDelete(request);
      if (i >= warmup) {
        figures.createJoin.push(up);
        figures.deleteReply.push(down);
      }
    }
    await driver.drain();
    return figures;
  };
  const cycle = await cycles(0);
  const paced = await cycles(25);
  const burst = { createJoin: [] as number[], deleteReply: [] as number[] };
  const requests = Array.from({ length: iterations }, (_, i) =>
    endpointRequest(network.NetworkID, { Address: address(i) }),
  );
  for (const request of requests) burst.createJoin.push(await createJoin(request));
  for (const request of requests) burst.deleteReply.push(await leaveDelete(request));
  const drainStarted = performance.now();
  await driver.drain();
  const drain = performance.now() - drainStarted;
  await driver.deleteNetwork({ NetworkID: network.NetworkID }, callContext());
  await driver.close();
  await firewall.flush();
  await root.close();
  return {
    label,
    cycle: { createJoin: stats(cycle.createJoin), deleteReply: stats(cycle.deleteReply) },
    paced: { createJoin: stats(paced.createJoin), deleteReply: stats(paced.deleteReply) },
    burst: { createJoin: stats(burst.createJoin), deleteReply: stats(burst.deleteReply) },
    drain,
  };
}

async function measureIp() {
  await ip(["link", "add", "benchbr0", "type", "bridge"]);
  await ip(["link", "set", "benchbr0", "up"]);
  const one: number[] = [];
  const three: number[] = [];
  const remove: number[] = [];
  for (let i = 0; i < warmup + iterations; i++) {
    const mac = `02:42:0a:fa:${((i >> 8) & 255).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`;
    const t0 = performance.now();
    await ip(
      ["link", "add", "bv0", "mtu", "1500", "master", "benchbr0", "up"].concat([
        "type",
        "veth",
        "peer",
        "name",
        "bp0",
        "mtu",
        "1500",
        "address",
        mac,
      ]),
    );
    const t1 = performance.now();
    await ip(["link", "del", "bv0"]);
    const t2 = performance.now();
    await ip([
      "link",
      "add",
      "bv1",
      "mtu",
      "1500",
      "type",
      "veth",
      "peer",
      "name",
      "bp1",
      "mtu",
      "1500",
      "address",
      mac,
    ]);
    await ip(["link", "set", "bv1", "master", "benchbr0"]);
    await ip(["link", "set", "bv1", "up"]);
    const t3 = performance.now();
    await ip(["link", "del", "bv1"]);
    if (i >= warmup) {
      one.push(t1 - t0);
      remove.push(t2 - t1);
      three.push(t3 - t2);
    }
  }
  await ip(["link", "del", "benchbr0"]);
  return { one: stats(one), three: stats(three), remove: stats(remove) };
}

async function measureCommit(store: Store): Promise<Stats> {
  const samples: number[] = [];
  for (let i = 0; i < warmup + iterations; i++) {
    const started = performance.now();
    await store.transaction((tx) => tx.put(`bench/${i}`, { i, name: "tsve-0123456789" }));
    if (i >= warmup) samples.push(performance.now() - started);
  }
  return stats(samples);
}

const ms = (value: number) => `${value.toFixed(3)} ms`.padStart(11);
const ratio = (value: number, base: number) => `${(value / base).toFixed(2)}x`.padStart(8);

const directory = await mkdtemp(join(tmpdir(), "tsnet-bench-"));
try {
  const lmdb = await openLmdbStore({ directory });
  const durable = await measureDriver("LmdbStore, veth pool", lmdb, true);
  const durableNoPool = await measureDriver("LmdbStore, no pool", lmdb, false);
  const commit = await measureCommit(lmdb);
  await lmdb.close();
  const memory = await measureDriver("MemoryStore, veth pool", new MemoryStore(), true);
  const memoryNoPool = await measureDriver("MemoryStore, no pool", new MemoryStore(), false);
  const baseline = await measureIp();
  const rows = [durable, durableNoPool, memory, memoryNoPool];
  console.log(`endpoint life cycle, ${iterations} iterations after ${warmup} warm-up, real kernel under unshare -n\n`);
  console.log(
    `${"create + join".padEnd(44)}${"median".padStart(11)}${"p99".padStart(12)}  vs ip 1 spawn  vs ip 3 spawns`,
  );
  for (const row of rows) {
    for (const [pattern, figures] of [
      ["back to back", row.cycle],
      ["paced", row.paced],
      ["burst", row.burst],
    ] as const) {
      const name = `${row.label} (${pattern})`.padEnd(42);
      const { median, p99 } = figures.createJoin;
      console.log(
        `  ${name}${ms(median)} ${ms(p99)}  ${ratio(median, baseline.one.median)}      ${ratio(median, baseline.three.median)}`,
      );
    }
  }
  console.log(
    `  ${"ip link add ... master up (1 spawn)".padEnd(42)}${ms(baseline.one.median)} ${ms(baseline.one.p99)}`,
  );
  console.log(
    `  ${"ip link add; set master; set up (3)".padEnd(42)}${ms(baseline.three.median)} ${ms(baseline.three.p99)}`,
  );
  console.log(`  ${"(LmdbStore commit alone)".padEnd(42)}${ms(commit.median)} ${ms(commit.p99)}`);
  console.log(`\n${"DeleteEndpoint reply".padEnd(44)}${"median".padStart(11)}${"p99".padStart(12)}  vs ip link del`);
  for (const row of rows) {
    for (const [pattern, figures] of [
      ["back to back", row.cycle],
      ["paced", row.paced],
      ["burst", row.burst],
    ] as const) {
      const name = `${row.label} (${pattern})`.padEnd(42);
      const { median, p99 } = figures.deleteReply;
      console.log(`  ${name}${ms(median)} ${ms(p99)}  ${ratio(median, baseline.remove.median)}`);
    }
  }
  console.log(`  ${"ip link del (1 spawn, waits)".padEnd(42)}${ms(baseline.remove.median)} ${ms(baseline.remove.p99)}`);
  for (const row of rows) {
    console.log(
      `  background deletion of the ${iterations}-endpoint burst (${row.label}): ${row.drain.toFixed(1)} ms after the last reply`,
    );
  }
} finally {
  await rm(directory, { recursive: true, force: true });
}

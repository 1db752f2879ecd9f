// Durable commit throughput: raw write+fsync on the same filesystem vs LmdbStore, serial and with 32 concurrent
// writers (group commit). Prints figures and ratios; never asserts on time.
import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openLmdbStore } from "../src/index.js";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const root = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), "tsnet-bench-store-"));

function rawFsyncRate(): number {
  const fd = openSync(join(root, "raw"), "w");
  const line = Buffer.from("x".repeat(64));
  let count = 0;
  const end = performance.now() + SECONDS * 1000;
  while (performance.now() < end) {
    writeSync(fd, line);
    fsyncSync(fd);
    count++;
  }
  closeSync(fd);
  return count / SECONDS;
}

async function storeRate(writers: number): Promise<{ rate: number; commits: number; transactions: number }> {
  const directory = join(root, `lmdb-${writers}`);
  const store = await openLmdbStore({ directory });
  let next = 0;
  const end = performance.now() + SECONDS * 1000;
  const writer = async (): Promise<void> => {
    while (performance.now() < end) {
      const key = `k/${next++}`;
      await store.transaction((tx) => tx.put(key, { n: next }));
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: writers }, writer));
  const elapsed = (performance.now() - started) / 1000;
  const stats = store.stats();
  await store.close();
  return { rate: stats.transactions / elapsed, ...stats };
}

try {
  const raw = rawFsyncRate();
  const serial = await storeRate(1);
  const concurrent = await storeRate(32);
  const f = (n: number) => Math.round(n).toLocaleString("en-US");
  console.log(`filesystem: ${root}`);
  console.log(`raw write+fsync (baseline, same run):  ${f(raw)} ops/s`);
  console.log(`LmdbStore, 1 writer:                    ${f(serial.rate)} tx/s  ${(serial.rate / raw).toFixed(2)}x raw`);
  console.log(
    `LmdbStore, 32 concurrent writers:       ${f(concurrent.rate)} tx/s  ${(concurrent.rate / raw).toFixed(2)}x raw  ` +
      `(${f(concurrent.transactions)} transactions in ${f(concurrent.commits)} commits, ` +
      `${(concurrent.transactions / concurrent.commits).toFixed(1)} per commit)`,
  );
} finally {
  await rm(root, { recursive: true, force: true });
}

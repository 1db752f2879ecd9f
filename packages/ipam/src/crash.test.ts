import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openLmdbStore } from "@tsnet/store";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createIpam } from "./ipam.js";
import { StaticHostNetworks } from "./testing.js";

const fixture = fileURLToPath(new URL("../fixtures/allocate-child.ts", import.meta.url));

const test = suite("Ipam crash safety");

test("keeps every acknowledged address after kill -9 and never hands one out twice", async () => {
  const directory = await mkdtemp(join(tmpdir(), "tsnet-ipam-crash-"));
  let child: ChildProcess | undefined;
  try {
    child = spawn(process.execPath, ["--conditions=@tsnet/source", "--import", "tsx", fixture, directory], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const acked: Array<[poolId: string, address: string]> = [];
    let buffered = "";
    const target = 4000;
    await new Promise<void>((resolve, reject) => {
      child?.once("exit", (code) => reject(new Error(`child exited early with ${code}`)));
      child?.stdout?.setEncoding("utf8");
      child?.stdout?.on("data", (chunk: string) => {
        buffered += chunk;
        const lines = buffered.split("\n");
        buffered = lines.pop() ?? "";
        for (const line of lines) {
          const [word, poolId, address] = line.split(" ");
          if (word === "ack") acked.push([poolId as string, address as string]);
        }
        if (acked.length >= target) resolve();
      });
    });
    child.removeAllListeners("exit");
    const exited = new Promise((resolve) => child?.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;

    const keys = acked.map(([poolId, address]) => `${poolId} ${address}`);
    assert.is(new Set(keys).size, keys.length, "the child acknowledged an address twice");

    const store = await openLmdbStore({ directory });
    try {
      const ipam = await createIpam({ store, hostNetworks: new StaticHostNetworks() });
      const allocated = new Map(ipam.pools().map((pool) => [pool.poolId, new Set(ipam.allocations(pool.poolId))]));
      const lost = acked.filter(([poolId, cidr]) => !allocated.get(poolId)?.has(cidr.split("/")[0] as string));
      assert.equal(lost, [], `${lost.length} acknowledged addresses lost`);

      const before = new Set(keys);
      const fresh = await Promise.all(
        Array.from({ length: 500 }, (_, n) => {
          const pool = ipam.pools()[n % 2];
          return ipam
            .requestAddress({ PoolID: pool?.poolId as string, Address: "", Options: {} })
            .then(({ Address }) => `${pool?.poolId} ${Address}`);
        }),
      );
      assert.is(new Set(fresh).size, fresh.length, "duplicates after restart");
      assert.equal(
        fresh.filter((key) => before.has(key)),
        [],
        "an address acknowledged before the crash was handed out again",
      );
    } finally {
      await store.close();
    }
  } finally {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await rm(directory, { recursive: true, force: true });
  }
});

test.run();

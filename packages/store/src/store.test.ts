import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isTsnetError } from "@tsnet/protocol";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { openLmdbStore } from "./lmdb-store.js";
import { MemoryStore } from "./memory-store.js";
import type { Store } from "./store.js";

/** The Store contract, run against every implementation. */
function contract(name: string, create: () => Promise<{ store: Store; cleanup: () => Promise<void> }>): void {
  const test = suite<{ store: Store; cleanup: () => Promise<void> }>(`Store contract: ${name}`);
  test.before.each(async (context) => {
    Object.assign(context, await create());
  });
  test.after.each(async (context) => {
    await context.cleanup();
  });

  test("returns what a committed transaction put, as plain data", async ({ store }) => {
    const value = { pool: "10.0.0.0/24", options: { a: "1" }, list: [1, "two", null, true], nested: { deep: [false] } };
    await store.transaction((tx) => tx.put("k", value));
    assert.equal(store.get("k"), value);
    assert.is(store.get("absent"), undefined);
  });

  test("resolves to what work returned", async ({ store }) => {
    assert.is(await store.transaction(() => 42), 42);
  });

  test("lets a transaction read its own writes and deletes", async ({ store }) => {
    await store.transaction((tx) => tx.put("a/1", 1));
    const seen = await store.transaction((tx) => {
      tx.put("a/2", 2);
      tx.delete("a/1");
      return { one: tx.get("a/1") ?? "gone", two: tx.get("a/2"), list: tx.list("a/") };
    });
    assert.equal(seen, { one: "gone", two: 2, list: [["a/2", 2]] });
  });

  test("keeps nothing when work throws, and rejects with that error", async ({ store }) => {
    await store.transaction((tx) => tx.put("kept", 1));
    const boom = new Error("boom");
    try {
      await store.transaction((tx) => {
        tx.put("kept", 2);
        tx.put("new", 1);
        throw boom;
      });
      assert.unreachable("should have rejected");
    } catch (error) {
      assert.is(error, boom);
    }
    assert.is(store.get("kept"), 1);
    assert.is(store.get("new"), undefined);
  });

  test("commits the other transactions of a batch when one throws", async ({ store }) => {
    const results = await Promise.allSettled([
      store.transaction((tx) => tx.put("x", 1)),
      store.transaction((tx) => {
        tx.put("y", 1);
        throw new Error("no");
      }),
      store.transaction((tx) => tx.put("z", 1)),
    ]);
    assert.equal(
      results.map((r) => r.status),
      ["fulfilled", "rejected", "fulfilled"],
    );
    assert.equal([store.get("x"), store.get("y"), store.get("z")], [1, undefined, 1]);
  });

  test("reads the latest of many writes to the same keys inside one transaction, and keeps that", async ({ store }) => {
    await store.transaction((tx) => {
      tx.put("m/old", "old");
      tx.put("m/gone", "gone");
    });
    const seen = await store.transaction((tx) => {
      // More writes than a transaction usually makes, with rewrites and deletes in between.
      for (let i = 0; i < 20; i++) tx.put(`m/${String(i).padStart(2, "0")}`, i);
      tx.put("m/03", "three");
      tx.delete("m/05");
      tx.put("m/05", "five");
      tx.delete("m/07");
      tx.delete("m/gone");
      tx.put("m/old", { now: "object" });
      return {
        three: tx.get("m/03"),
        five: tx.get("m/05"),
        seven: tx.get("m/07") ?? "deleted",
        gone: tx.get("m/gone") ?? "deleted",
        old: tx.get("m/old"),
        keys: tx.list("m/").map(([key]) => key),
      };
    });
    const keys = [
      ...Array.from({ length: 20 }, (_, i) => `m/${String(i).padStart(2, "0")}`).filter((key) => key !== "m/07"),
      "m/old",
    ];
    assert.equal(seen, {
      three: "three",
      five: "five",
      seven: "deleted",
      gone: "deleted",
      old: { now: "object" },
      keys,
    });
    assert.equal(
      store.list("m/").map(([key]) => key),
      keys,
    );
    assert.equal(
      [store.get("m/03"), store.get("m/05"), store.get("m/07"), store.get("m/gone")],
      ["three", "five", undefined, undefined],
    );
  });

  test("keeps nothing of a transaction with many writes that throws", async ({ store }) => {
    await store.transaction((tx) => tx.put("w/keep", 1));
    await store
      .transaction((tx) => {
        for (let i = 0; i < 30; i++) tx.put(`w/${i}`, i);
        tx.delete("w/keep");
        throw new Error("no");
      })
      .catch(() => {});
    assert.equal(store.list("w/"), [["w/keep", 1]]);
  });

  test("lists exactly the keys under a prefix, in key order", async ({ store }) => {
    await store.transaction((tx) => {
      for (const key of ["ipam/addr/b", "ipam/addr/a", "ipam/addrs", "ipam/add", "ipam/addr/c/d", "other"]) {
        tx.put(key, key);
      }
    });
    assert.equal(
      store.list("ipam/addr/").map(([key]) => key),
      ["ipam/addr/a", "ipam/addr/b", "ipam/addr/c/d"],
    );
    assert.equal(store.list("nothing/"), []);
    assert.equal([...(store.scan?.("ipam/addr/") ?? [])], store.list("ipam/addr/"));
    assert.ok(store.scan !== undefined, "both stores implement scan");
  });

  test("serialises concurrent read-modify-write transactions", async ({ store }) => {
    await Promise.all(
      Array.from({ length: 100 }, () =>
        store.transaction((tx) => {
          tx.put("counter", (tx.get<number>("counter") ?? 0) + 1);
        }),
      ),
    );
    assert.is(store.get("counter"), 100);
  });

  test("does not change a stored value when the caller mutates its copy", async ({ store }) => {
    const value = { list: [1] };
    await store.transaction((tx) => tx.put("v", value));
    value.list.push(2);
    const read = store.get<{ list: number[] }>("v");
    read?.list.push(3);
    assert.equal(store.get("v"), { list: [1] });
  });

  test("refuses transactions after close with UNAVAILABLE", async ({ store }) => {
    await store.close();
    try {
      await store.transaction(() => 1);
      assert.unreachable("should have rejected");
    } catch (error) {
      assert.ok(isTsnetError(error) && error.code === "UNAVAILABLE");
    }
  });

  test("refuses a transaction whose signal is already aborted", async ({ store }) => {
    try {
      await store.transaction((tx) => tx.put("k", 1), AbortSignal.abort());
      assert.unreachable("should have rejected");
    } catch (error) {
      assert.ok(isTsnetError(error) && error.code === "UNAVAILABLE");
    }
    assert.is(store.get("k"), undefined);
  });

  test.run();
}

contract("MemoryStore", async () => {
  const store = new MemoryStore();
  return { store, cleanup: () => store.close() };
});

contract("LmdbStore", async () => {
  const directory = await mkdtemp(join(tmpdir(), "tsnet-store-"));
  const store = await openLmdbStore({ directory });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
});

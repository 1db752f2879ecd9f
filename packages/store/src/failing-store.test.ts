import { isTsnetError } from "@tsnet/protocol";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { FailingStore } from "./failing-store.js";
import { MemoryStore } from "./memory-store.js";

const test = suite("FailingStore");

test("fails the next transaction like a failed commit and keeps nothing", async () => {
  const store = new FailingStore(new MemoryStore());
  store.failNext();
  try {
    await store.transaction((tx) => tx.put("k", 1));
    assert.unreachable("should have failed");
  } catch (error) {
    assert.ok(isTsnetError(error) && error.code === "UNAVAILABLE");
  }
  assert.is(store.get("k"), undefined);
  await store.transaction((tx) => tx.put("k", 2));
  assert.is(store.get("k"), 2);
  assert.is(store.failed, 1);
});

test("fails the transactions whose writes match a predicate", async () => {
  const store = new FailingStore(new MemoryStore());
  store.failWhen((writes) => writes.has("bad"));
  const results = await Promise.allSettled([
    store.transaction((tx) => tx.put("good", 1)),
    store.transaction((tx) => tx.put("bad", 1)),
  ]);
  assert.equal(
    results.map((r) => r.status),
    ["fulfilled", "rejected"],
  );
  assert.equal(store.list(""), [["good", 1]]);
});

test.run();

import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isTsnetError } from "@tsnet/protocol";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { exited, lines, spawnFixture } from "./child.test.helpers.js";
import { openLmdbStore } from "./lmdb-store.js";
import { PID_FILE } from "./state-lock.js";

const test = suite<{ directory: string; children: ChildProcess[] }>("LmdbStore");
test.before.each(async (context) => {
  context.directory = await mkdtemp(join(tmpdir(), "tsnet-lmdb-"));
  context.children = [];
});
test.after.each(async ({ directory, children }) => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await Promise.all(children.map(exited));
  await rm(directory, { recursive: true, force: true });
});

test("commits concurrent transactions together (group commit)", async ({ directory }) => {
  const store = await openLmdbStore({ directory });
  try {
    await Promise.all(Array.from({ length: 200 }, (_, i) => store.transaction((tx) => tx.put(`k/${i}`, i))));
    const { transactions, commits } = store.stats();
    assert.is(transactions, 200);
    assert.ok(commits <= 5, `200 concurrent transactions took ${commits} commits`);
    assert.is(store.list("k/").length, 200);
  } finally {
    await store.close();
  }
});

test("shows reads outside transactions only committed state", async ({ directory }) => {
  const store = await openLmdbStore({ directory });
  try {
    const pending = store.transaction((tx) => tx.put("k", "new"));
    assert.is(store.get("k"), undefined);
    assert.equal(store.list("k"), []);
    await pending;
    assert.is(store.get("k"), "new");
  } finally {
    await store.close();
  }
});

test("keeps state across close and reopen", async ({ directory }) => {
  const first = await openLmdbStore({ directory });
  await first.transaction((tx) => tx.put("a", { b: [1, 2] }));
  await first.close();
  const second = await openLmdbStore({ directory });
  assert.equal(second.get("a"), { b: [1, 2] });
  await second.close();
});

test("keeps every acknowledged transaction when its process is killed with SIGKILL", async (context) => {
  const child = spawnFixture("commit-child.ts", context.directory);
  context.children.push(child);
  const output = lines(child);
  await output.until((all) => all.length >= 3000);
  child.kill("SIGKILL");
  await exited(child);
  const acked = output.all.filter((line) => line.startsWith("acked/"));
  assert.ok(acked.length >= 3000);
  const store = await openLmdbStore({ directory: context.directory });
  try {
    const stored = new Set(store.list("acked/").map(([key]) => key));
    const missing = acked.filter((key) => !stored.has(key));
    assert.equal(missing, [], `${missing.length} acknowledged keys lost`);
  } finally {
    await store.close();
  }
});

test("refuses a second opener in the same process with CONFLICT naming the pid", async ({ directory }) => {
  const store = await openLmdbStore({ directory });
  try {
    await openLmdbStore({ directory });
    assert.unreachable("second open should fail");
  } catch (error) {
    assert.ok(isTsnetError(error) && error.code === "CONFLICT", String(error));
    assert.is((error as Error).message, `state dir "${directory}" is locked by pid ${process.pid}`);
  } finally {
    await store.close();
  }
});

test("refuses an opener that reaches the same directory through another path", async ({ directory }) => {
  const store = await openLmdbStore({ directory });
  const alias = `${directory}-alias`;
  await symlink(directory, alias);
  try {
    await openLmdbStore({ directory: alias });
    assert.unreachable("open through the symlink should fail");
  } catch (error) {
    assert.ok(isTsnetError(error) && error.code === "CONFLICT", String(error));
  } finally {
    await rm(alias, { force: true });
    await store.close();
  }
});

test("refuses a second process while the first holds the directory", async (context) => {
  const holder = spawnFixture("hold-lock.ts", context.directory);
  context.children.push(holder);
  await lines(holder).until((all) => all.includes("ready"));
  const contender = spawnFixture("hold-lock.ts", context.directory);
  context.children.push(contender);
  const said = lines(contender);
  assert.is(await exited(contender), 3);
  assert.equal(said.all, [`refused CONFLICT: state dir "${context.directory}" is locked by pid ${holder.pid}`]);
  try {
    await openLmdbStore({ directory: context.directory });
    assert.unreachable("open should fail while the child holds the lock");
  } catch (error) {
    assert.ok(isTsnetError(error) && error.code === "CONFLICT");
  }
});

test("takes over a directory whose holder was killed with SIGKILL", async (context) => {
  const holder = spawnFixture("hold-lock.ts", context.directory);
  context.children.push(holder);
  await lines(holder).until((all) => all.includes("ready"));
  holder.kill("SIGKILL");
  await exited(holder);
  assert.is((await readFile(join(context.directory, PID_FILE), "utf8")).trim(), String(holder.pid));
  const store = await openLmdbStore({ directory: context.directory });
  assert.is((await readFile(join(context.directory, PID_FILE), "utf8")).trim(), String(process.pid));
  await store.close();
  assert.not.ok(existsSync(join(context.directory, PID_FILE)));
});

test("ignores a stale pid file naming a live process that holds no lock", async ({ directory }) => {
  // pid 1 is alive but never ours: a pid-file-only lock would refuse here after pid reuse.
  await writeFile(join(directory, PID_FILE), "1\n");
  const store = await openLmdbStore({ directory });
  await store.close();
});

test.run();

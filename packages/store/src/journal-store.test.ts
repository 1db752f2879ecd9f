import type { ChildProcess } from "node:child_process";
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isTsnetError } from "@tsnet/protocol";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { exited, lines, spawnFixture } from "./child.test.helpers.js";
import { BOOT_ID_FILE, JOURNAL_FILE, openJournalStore } from "./journal-store.js";

const test = suite<{ directory: string; children: ChildProcess[] }>("JournalStore");
test.before.each(async (context) => {
  context.directory = await mkdtemp(join(tmpdir(), "tsnet-journal-"));
  context.children = [];
});
test.after.each(async ({ directory, children }) => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await Promise.all(children.map(exited));
  await rm(directory, { recursive: true, force: true });
});

test("keeps puts and deletes across close and reopen; a commit is visible before its promise settles", async ({
  directory,
}) => {
  const store = await openJournalStore({ directory });
  const pending = store.transaction((tx) => {
    tx.put("a", { n: 1 });
    tx.put("b", "two");
  });
  assert.equal(store.get("a"), { n: 1 }, "visible before the promise settles");
  await pending;
  await store.transaction((tx) => tx.delete("b"));
  await store.close();
  const again = await openJournalStore({ directory });
  try {
    assert.equal(again.list(""), [["a", { n: 1 }]]);
  } finally {
    await again.close();
  }
});

test("a transaction that throws keeps nothing, in memory or in the journal", async ({ directory }) => {
  const store = await openJournalStore({ directory });
  await store.transaction((tx) => tx.put("kept", 1));
  const before = (await stat(join(directory, JOURNAL_FILE))).size;
  await store
    .transaction((tx) => {
      tx.put("lost", 2);
      throw new Error("no");
    })
    .then(
      () => assert.unreachable("should reject"),
      (error: Error) => assert.is(error.message, "no"),
    );
  assert.is(store.get("lost"), undefined);
  assert.is((await stat(join(directory, JOURNAL_FILE))).size, before);
  await store.close();
});

test("keeps every acknowledged transaction when its process is killed with SIGKILL mid-churn", async (context) => {
  const child = spawnFixture("commit-child.ts", context.directory, "journal");
  context.children.push(child);
  const output = lines(child);
  await output.until((all) => all.length >= 3000);
  child.kill("SIGKILL");
  await exited(child);
  const acked = output.all.filter((line) => line.startsWith("acked/"));
  const store = await openJournalStore({ directory: context.directory });
  try {
    const stored = new Set(store.list("acked/").map(([key]) => key));
    const missing = acked.filter((key) => !stored.has(key));
    assert.equal(missing, [], `${missing.length} acknowledged keys lost`);
    assert.ok(store.list("churn/").length <= 32, "churn keys are deleted (at most one per writer in flight)");
    // 3000 rounds wrote ~1.5 MB of churn; compaction kept the journal near the live entries.
    const size = (await stat(join(context.directory, JOURNAL_FILE))).size;
    assert.ok(size < 1024 * 1024, `journal compacted: ${size} bytes`);
  } finally {
    await store.close();
  }
});

test("compacts a churning journal to its live entries, losing nothing", async ({ directory }) => {
  const store = await openJournalStore({ directory, compactAfterBytes: 4096 });
  for (let i = 0; i < 500; i++) {
    await store.transaction((tx) => tx.put(`k/${i % 10}`, { i, padding: "p".repeat(50) }));
    if (i % 3 === 0) await store.transaction((tx) => tx.delete(`k/${(i + 5) % 10}`));
  }
  const expected = store.list("k/");
  const size = (await stat(join(directory, JOURNAL_FILE))).size;
  assert.ok(size < 4 * 4096, `journal stays small: ${size} bytes`);
  await store.close();
  const again = await openJournalStore({ directory });
  try {
    assert.equal(again.list("k/"), expected);
  } finally {
    await again.close();
  }
});

test("skips a last line cut short and starts empty under another boot", async ({ directory }) => {
  const store = await openJournalStore({ directory });
  await store.transaction((tx) => tx.put("whole", 1));
  await store.close();
  await appendFile(join(directory, JOURNAL_FILE), '[["cut",');
  const cut = await openJournalStore({ directory });
  assert.equal(cut.list(""), [["whole", 1]]);
  await cut.close();
  // What a host crash leaves: a journal of another boot, whatever its state.
  await writeFile(join(directory, BOOT_ID_FILE), "00000000-0000-0000-0000-000000000000\n");
  const rebooted = await openJournalStore({ directory });
  try {
    assert.equal(rebooted.list(""), []);
    assert.is(
      (await readFile(join(directory, BOOT_ID_FILE), "utf8")).trim(),
      (await readFile("/proc/sys/kernel/random/boot_id", "utf8")).trim(),
    );
  } finally {
    await rebooted.close();
  }
});

test("refuses a second opener with CONFLICT", async ({ directory }) => {
  const store = await openJournalStore({ directory });
  try {
    await openJournalStore({ directory }).then(
      () => assert.unreachable("second open should fail"),
      (error: unknown) => assert.ok(isTsnetError(error) && error.code === "CONFLICT", String(error)),
    );
  } finally {
    await store.close();
  }
});

test.run();

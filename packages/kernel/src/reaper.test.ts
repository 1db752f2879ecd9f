import { isTsnetError } from "@tsnet/protocol";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Link, Links } from "./links.js";
import { createLinkReaper } from "./reaper.js";

/** Just enough of Links for the reaper: a set of names, with deletes that can be made to fail. */
function fakeLinks(names: string[], options: { failTimes?: Map<string, number>; bulk?: boolean } = {}) {
  const present = new Set(names);
  const calls: string[][] = [];
  const failTimes = options.failTimes ?? new Map<string, number>();
  const fail = (name: string) => {
    const left = failTimes.get(name) ?? 0;
    if (left > 0) {
      failTimes.set(name, left - 1);
      throw new Error(`Request rejected: EBUSY (${name})`);
    }
  };
  const links = {
    async delete(name: string) {
      calls.push([name]);
      fail(name);
      present.delete(name);
    },
    ...(options.bulk
      ? {
          async deleteMany(batch: readonly string[]) {
            calls.push([...batch]);
            for (const name of batch) fail(name);
            for (const name of batch) present.delete(name);
          },
        }
      : {}),
    async get(): Promise<Link | undefined> {
      return undefined;
    },
  } as unknown as Links;
  return { links, present, calls };
}

const reaper = suite("createLinkReaper");

reaper("deletes every queued link by the time drain resolves", async () => {
  const names = Array.from({ length: 50 }, (_, i) => `tsve-${i}`);
  const { links, present } = fakeLinks(names, { bulk: true });
  const subject = createLinkReaper(links, { lingerMs: 1 });
  for (const name of names) subject.enqueue(name);
  await subject.drain();
  assert.is(present.size, 0);
  assert.is(subject.pending, 0);
});

reaper("groups queued links into batches when the links support deleteMany", async () => {
  const names = Array.from({ length: 10 }, (_, i) => `tsve-${i}`);
  const { links, calls } = fakeLinks(names, { bulk: true });
  const subject = createLinkReaper(links, { lingerMs: 5, batchSize: 4 });
  for (const name of names) subject.enqueue(name);
  await subject.drain();
  assert.equal(
    calls.map((batch) => batch.length),
    [4, 4, 2],
  );
});

reaper("retries a link whose delete failed until it is gone", async () => {
  const { links, present } = fakeLinks(["a", "b"], { failTimes: new Map([["b", 2]]) });
  const subject = createLinkReaper(links, { lingerMs: 0, retryDelayMs: 1 });
  subject.enqueue("a");
  subject.enqueue("b");
  await subject.drain();
  assert.is(present.size, 0);
});

reaper("falls back to one by one when a batch fails, so one bad link does not hold the others", async () => {
  const { links, present } = fakeLinks(["a", "b", "c"], { bulk: true, failTimes: new Map([["b", 1]]) });
  const subject = createLinkReaper(links, { lingerMs: 1, retryDelayMs: 1 });
  for (const name of ["a", "b", "c"]) subject.enqueue(name);
  await subject.drain();
  assert.is(present.size, 0);
});

reaper("gives up after maxAttempts, logging an error, and still drains", async () => {
  const errors: unknown[] = [];
  const logger = {
    debug() {},
    info() {},
    warn() {},
    error(fields: Record<string, unknown>) {
      errors.push(fields.link);
    },
    child() {
      return logger;
    },
  };
  const { links, present } = fakeLinks(["stuck"], { failTimes: new Map([["stuck", 100]]) });
  const subject = createLinkReaper(links, { lingerMs: 0, retryDelayMs: 1, maxAttempts: 3, logger });
  subject.enqueue("stuck");
  await subject.drain();
  assert.ok(present.has("stuck"));
  assert.equal(errors, ["stuck"]);
});

reaper("refuses with UNAVAILABLE once the queue is full", () => {
  const { links } = fakeLinks([]);
  const subject = createLinkReaper(links, { maxQueue: 2, lingerMs: 50 });
  subject.enqueue("a");
  subject.enqueue("b");
  subject.enqueue("a"); // already queued: not counted twice
  assert.throws(
    () => subject.enqueue("c"),
    (error: unknown) => isTsnetError(error) && error.code === "UNAVAILABLE",
  );
  return subject.drain();
});

reaper.run();

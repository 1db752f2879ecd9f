import { isTsnetError, TsnetError } from "@tsnet/protocol";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { deadline, fromNetlink, withSignal } from "./netlink-error.js";

const mapping = suite("fromNetlink");

for (const [errno, code] of [
  ["EEXIST", "CONFLICT"],
  ["ENOENT", "NOT_FOUND"],
  ["ENODEV", "NOT_FOUND"],
  ["EBUSY", "UNAVAILABLE"],
  ["EINVAL", "INVALID_ARGUMENT"],
  ["ERANGE", "INVALID_ARGUMENT"],
  ["EPERM", "INTERNAL"],
] as const) {
  mapping(`maps ${errno} to ${code}, naming the action and keeping the cause`, () => {
    const original = new Error(`Request rejected: ${errno}`);
    const error = fromNetlink(original, 'add bridge "br0"');
    assert.ok(isTsnetError(error));
    assert.is(error.code, code);
    assert.is(error.message, `add bridge "br0": ${errno}`);
    assert.is(error.cause, original);
  });
}

mapping("maps an error without an errno to INTERNAL with its message", () => {
  const error = fromNetlink(new Error("Multipart message not terminated properly"), "list links");
  assert.is(error.code, "INTERNAL");
  assert.match(error.message, /list links: Multipart/);
});

mapping("passes a TsnetError through unchanged", () => {
  const original = new TsnetError("NOT_FOUND", "x");
  assert.is(fromNetlink(original, "y"), original);
});

mapping.run();

const signals = suite("withSignal");

signals("rejects with UNAVAILABLE when the signal was aborted before the start", async () => {
  const controller = new AbortController();
  controller.abort();
  try {
    await withSignal(Promise.resolve(1), controller.signal, "get link");
    assert.unreachable();
  } catch (error) {
    assert.ok(isTsnetError(error) && error.code === "UNAVAILABLE");
  }
});

signals("rejects with UNAVAILABLE when the deadline passes first", async () => {
  try {
    await withSignal(new Promise((resolve) => setTimeout(resolve, 500)), deadline(undefined, 10), "get link");
    assert.unreachable();
  } catch (error) {
    assert.ok(isTsnetError(error) && error.code === "UNAVAILABLE");
    assert.match((error as Error).message, /timed out/);
  }
});

signals("resolves with the work's value when it finishes in time", async () => {
  assert.is(await withSignal(Promise.resolve(7), deadline(undefined, 1000), "x"), 7);
});

signals.run();

import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Bitmap } from "./bitmap.js";
import { RunSet } from "./runs.js";

const test = suite("Bitmap and RunSet");

const operation = fc.oneof(
  fc.record({ kind: fc.constant("add" as const), at: fc.nat(199) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(199) }),
  fc.record({ kind: fc.constant("find" as const), at: fc.nat(199), to: fc.nat(200) }),
);

test("agree with a Set on add, delete, has and lowest-clear search", () => {
  fc.assert(
    fc.property(fc.array(operation, { maxLength: 400 }), (operations) => {
      const model = new Set<number>();
      const bitmap = new Bitmap(200);
      const runs = new RunSet();
      for (const op of operations) {
        if (op.kind === "add") {
          const expected = !model.has(op.at);
          model.add(op.at);
          assert.is(bitmap.set(op.at), expected);
          assert.is(runs.add(BigInt(op.at)), expected);
        } else if (op.kind === "delete") {
          const expected = model.delete(op.at);
          assert.is(bitmap.clear(op.at), expected);
          assert.is(runs.delete(BigInt(op.at)), expected);
        } else {
          let expected = -1;
          for (let x = op.at; x < op.to; x++) {
            if (!model.has(x)) {
              expected = x;
              break;
            }
          }
          assert.is(bitmap.findClear(op.at, op.to), expected);
          assert.is(runs.findClear(BigInt(op.at), BigInt(op.to)), BigInt(expected));
        }
      }
      const sorted = [...model].sort((a, b) => a - b);
      assert.equal([...bitmap.indexes()], sorted);
      assert.equal([...runs.values()].map(Number), sorted);
    }),
  );
});

test("finds a clear bit past full words and stops at the range end", () => {
  const bitmap = new Bitmap(100);
  for (let i = 0; i < 70; i++) bitmap.set(i);
  assert.is(bitmap.findClear(0, 100), 70);
  assert.is(bitmap.findClear(0, 70), -1);
  for (let i = 70; i < 100; i++) bitmap.set(i);
  assert.is(bitmap.findClear(0, 100), -1);
});

test("keeps a serial fill of a huge range as one run", () => {
  const runs = new RunSet();
  const base = 1n << 63n;
  for (let i = 0n; i < 1000n; i++) runs.add(base + i);
  assert.is(runs.runs, 1);
  runs.delete(base + 500n);
  assert.is(runs.runs, 2);
  assert.is(runs.findClear(base, base + 2000n), base + 500n);
});

test.run();

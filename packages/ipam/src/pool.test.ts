import { isTsnetError } from "@tsnet/protocol";
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { parseNetwork } from "./address.js";
import { KEYS } from "./keys.js";
import { Pool } from "./pool.js";

function makePool(cidr: string, subPool = "", options: Record<string, string> = {}, bitmapLimit?: number): Pool {
  const network = parseNetwork(cidr);
  if (network === undefined) throw new Error(cidr);
  return new Pool({
    id: `LocalDefault/${cidr}`,
    space: "LocalDefault",
    network,
    subPool: subPool === "" ? undefined : parseNetwork(subPool),
    options,
    ...(bitmapLimit === undefined ? {} : { bitmapLimit }),
  });
}

function throwsCode(run: () => unknown, code: string): void {
  assert.throws(run, (e: unknown) => isTsnetError(e) && e.code === code);
}

for (const kind of ["bitmap", "runs"] as const) {
  const limit = kind === "bitmap" ? undefined : 0;
  const test = suite(`Pool (${kind})`);

  test("hands out .1 first and never the network or broadcast address", () => {
    const pool = makePool("10.20.0.0/29", "", {}, limit);
    const got = Array.from({ length: 6 }, () => pool.allocate(false));
    assert.equal(got, ["10.20.0.1", "10.20.0.2", "10.20.0.3", "10.20.0.4", "10.20.0.5", "10.20.0.6"]);
    throwsCode(() => pool.allocate(false), "EXHAUSTED");
    assert.is(pool.freeCount(), 0n);
  });

  test("exhausts an IPv6 /126 after ::1, ::2, ::3 (no broadcast in IPv6)", () => {
    const pool = makePool("fd00:20::/126", "", {}, limit);
    assert.equal(
      [pool.allocate(false), pool.allocate(false), pool.allocate(false)],
      ["fd00:20::1", "fd00:20::2", "fd00:20::3"],
    );
    throwsCode(() => pool.allocate(false), "EXHAUSTED");
  });

  test("refuses the network and broadcast addresses and addresses outside the pool", () => {
    const pool = makePool("10.20.0.0/24", "", {}, limit);
    throwsCode(() => pool.reserve("10.20.0.0"), "INVALID_ARGUMENT");
    throwsCode(() => pool.reserve("10.20.0.255"), "INVALID_ARGUMENT");
    throwsCode(() => pool.reserve("10.20.1.1"), "INVALID_ARGUMENT");
    throwsCode(() => pool.reserve("fd00::1"), "INVALID_ARGUMENT");
    throwsCode(() => pool.reserve("10.20.0.x"), "INVALID_ARGUMENT");
    assert.is(pool.allocatedCount, 0n);
  });

  test("refuses an address that is already taken with CONFLICT", () => {
    const pool = makePool("10.20.0.0/24", "", {}, limit);
    assert.is(pool.reserve("10.20.0.9"), "10.20.0.9");
    throwsCode(() => pool.reserve("10.20.0.9"), "CONFLICT");
  });

  test("gives nothing in an IPv4 /31 or /32, as Docker", () => {
    throwsCode(() => makePool("10.20.0.0/31", "", {}, limit).allocate(false), "EXHAUSTED");
    throwsCode(() => makePool("10.20.0.4/32", "", {}, limit).allocate(false), "EXHAUSTED");
  });

  test("hands out from the sub-pool only, but takes explicit addresses anywhere in the pool", () => {
    const pool = makePool("10.95.0.0/24", "10.95.0.128/25", {}, limit);
    assert.is(pool.allocate(false), "10.95.0.128");
    assert.is(pool.reserve("10.95.0.5"), "10.95.0.5");
    assert.is(pool.allocate(false), "10.95.0.129");
    assert.is(pool.freeCount(), 125n); // .128-.254 is 127, two taken
  });

  test("reuses a released address at once (lowest free)", () => {
    const pool = makePool("10.20.0.0/24", "", {}, limit);
    for (let i = 0; i < 5; i++) pool.allocate(false);
    assert.ok(pool.release("10.20.0.2"));
    assert.is(pool.allocate(false), "10.20.0.2");
    assert.is(pool.allocate(false), "10.20.0.6");
  });

  test("hands out round-robin when serial, wrapping past the end", () => {
    const pool = makePool("10.20.0.0/29", "", {}, limit);
    assert.equal(
      [pool.allocate(true), pool.allocate(true), pool.allocate(true)],
      ["10.20.0.1", "10.20.0.2", "10.20.0.3"],
    );
    pool.release("10.20.0.2");
    assert.is(pool.allocate(true), "10.20.0.4");
    assert.is(pool.allocate(true), "10.20.0.5");
    assert.is(pool.allocate(true), "10.20.0.6");
    assert.is(pool.allocate(true), "10.20.0.2");
  });

  test("releasing what is not allocated returns false and changes nothing", () => {
    const pool = makePool("10.20.0.0/24", "", {}, limit);
    assert.not.ok(pool.release("10.20.0.7"));
    assert.not.ok(pool.release("10.21.0.7"));
    assert.not.ok(pool.release("fd00::1"));
    assert.is(pool.freeCount(), 254n);
  });

  test("never hands out a held, reserved or out-of-range address and keeps the free count", () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant("auto" as const), serial: fc.boolean() }),
      fc.record({ kind: fc.constant("explicit" as const), offset: fc.nat(63) }),
      fc.record({ kind: fc.constant("release" as const), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.boolean(), fc.array(step, { maxLength: 300 }), (withSubPool, steps) => {
        const pool = makePool("10.20.0.0/26", withSubPool ? "10.20.0.16/28" : "", {}, limit);
        const [lo, hi] = withSubPool ? [16, 32] : [1, 63];
        const held = new Set<number>();
        for (const s of steps) {
          if (s.kind === "auto") {
            const free = Array.from({ length: hi - lo }, (_, i) => lo + i).filter((o) => !held.has(o));
            if (free.length === 0) {
              throwsCode(() => pool.allocate(s.serial), "EXHAUSTED");
              continue;
            }
            const offset = Number(pool.allocate(s.serial).split(".")[3]);
            assert.ok(offset >= lo && offset < hi, `offset ${offset} outside [${lo}, ${hi})`);
            assert.not.ok(held.has(offset), `offset ${offset} handed twice`);
            if (!s.serial) assert.is(offset, free[0]);
            held.add(offset);
          } else if (s.kind === "explicit") {
            const text = `10.20.0.${s.offset}`;
            if (s.offset === 0 || s.offset === 63) throwsCode(() => pool.reserve(text), "INVALID_ARGUMENT");
            else if (held.has(s.offset)) throwsCode(() => pool.reserve(text), "CONFLICT");
            else {
              pool.reserve(text);
              held.add(s.offset);
            }
          } else if (held.size > 0) {
            const offset = [...held][s.pick % held.size] as number;
            assert.ok(pool.release(`10.20.0.${offset}`));
            held.delete(offset);
          }
          const inRange = [...held].filter((o) => o >= lo && o < hi).length;
          assert.is(pool.freeCount(), BigInt(hi - lo - inRange));
          assert.is(pool.allocatedCount, BigInt(held.size));
        }
        assert.equal(
          pool.addresses(),
          [...held].sort((a, b) => a - b).map((o) => `10.20.0.${o}`),
        );
      }),
    );
  });

  test.run();
}

const keys = suite("Pool.addressKeyPrefix");
keys("is the address key of the pool's PoolID without the address, for IPv4, IPv6 and sub-pools", () => {
  for (const [cidr, subPool, address] of [
    ["10.20.0.0/24", "", "10.20.0.7"],
    ["10.20.0.0/24", "10.20.0.128/25", "10.20.0.130"],
    ["fd00:1::/64", "", "fd00:1::5"],
  ] as const) {
    const pool = makePool(cidr, subPool);
    assert.is(pool.addressKeyPrefix + address, KEYS.address(pool.id, address));
  }
});
keys.run();

import { isTsnetError } from "@tsnet/protocol";
import { MemoryStore } from "@tsnet/store";
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { parseAddress } from "./address.js";
import { createIpam, type Ipam } from "./ipam.js";
import { StaticHostNetworks } from "./testing.js";

const test = suite("Ipam properties");

interface Shape {
  pool: string;
  subPool: string;
  v6: boolean;
  /** Offsets (from the network address) a request without an address may get: [lo, hi). */
  lo: number;
  hi: number;
  /** Offsets an explicit request may take: [1, max]. */
  max: number;
  base: bigint;
}

const SHAPES: Shape[] = [
  { pool: "10.20.0.0/27", subPool: "", v6: false, lo: 1, hi: 31, max: 30, base: 0x0a140000n },
  { pool: "10.20.0.0/27", subPool: "10.20.0.16/28", v6: false, lo: 16, hi: 31, max: 30, base: 0x0a140000n },
  { pool: "fd00:5::/123", subPool: "", v6: true, lo: 1, hi: 32, max: 31, base: (0xfd00n << 112n) | (5n << 96n) },
  {
    pool: "fd00:5::/123",
    subPool: "fd00:5::8/125",
    v6: true,
    lo: 8,
    hi: 16,
    max: 31,
    base: (0xfd00n << 112n) | (5n << 96n),
  },
];

const step = fc.oneof(
  fc.record({ kind: fc.constant("auto" as const), serial: fc.boolean() }),
  fc.record({ kind: fc.constant("gateway" as const) }),
  fc.record({ kind: fc.constant("explicit" as const), offset: fc.nat(40) }),
  fc.record({ kind: fc.constant("release" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("restart" as const) }),
);

function offsetOf(shape: Shape, cidr: string): number {
  const [text, prefix] = cidr.split("/");
  assert.is(prefix, shape.pool.split("/")[1], "reply keeps the pool's prefix length");
  const address = parseAddress(text as string);
  if (address === undefined) throw new Error(`bad reply ${cidr}`);
  return Number(address.value - shape.base);
}

function textOf(shape: Shape, offset: number): string {
  if (!shape.v6) return `10.20.0.${offset}`;
  return `fd00:5::${offset.toString(16)}`;
}

test("never hands an address out twice, outside its range, or reserved; free count always matches", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...SHAPES),
      fc.boolean(),
      fc.array(step, { maxLength: 120 }),
      async (shape, smallBitmap, steps) => {
        const store = new MemoryStore();
        const options = { store, hostNetworks: new StaticHostNetworks(), ...(smallBitmap ? { bitmapLimit: 0 } : {}) };
        let ipam: Ipam = await createIpam(options);
        const { PoolID } = await ipam.requestPool({
          AddressSpace: "LocalDefault",
          Pool: shape.pool,
          SubPool: shape.subPool,
          Options: {},
          V6: shape.v6,
        });
        const held = new Set<number>();
        for (const s of steps) {
          if (s.kind === "auto" || s.kind === "gateway") {
            const freeInRange = Array.from({ length: shape.hi - shape.lo }, (_, i) => shape.lo + i).filter(
              (o) => !held.has(o),
            );
            const options =
              s.kind === "gateway"
                ? { RequestAddressType: "com.docker.network.gateway" }
                : s.serial
                  ? { "com.docker.network.ipam.serial": "true" }
                  : {};
            try {
              const offset = offsetOf(
                shape,
                (await ipam.requestAddress({ PoolID, Address: "", Options: options })).Address,
              );
              assert.ok(offset >= shape.lo && offset < shape.hi, `offset ${offset} outside [${shape.lo}, ${shape.hi})`);
              assert.not.ok(held.has(offset), `offset ${offset} handed out twice`);
              if (s.kind === "gateway" || !s.serial) assert.is(offset, freeInRange[0], "lowest free");
              held.add(offset);
            } catch (error) {
              if (!isTsnetError(error) || error.code !== "EXHAUSTED") throw error;
              assert.is(freeInRange.length, 0);
            }
          } else if (s.kind === "explicit") {
            const text = textOf(shape, s.offset);
            try {
              await ipam.requestAddress({ PoolID, Address: text, Options: {} });
              assert.ok(s.offset >= 1 && s.offset <= shape.max && !held.has(s.offset), `${text} should be refused`);
              held.add(s.offset);
            } catch (error) {
              if (!isTsnetError(error)) throw error;
              if (held.has(s.offset)) assert.is(error.code, "CONFLICT");
              else assert.ok(error.code === "INVALID_ARGUMENT" && (s.offset === 0 || s.offset > shape.max));
            }
          } else if (s.kind === "release") {
            if (held.size === 0) continue;
            const offset = [...held][s.pick % held.size] as number;
            await ipam.releaseAddress({ PoolID, Address: textOf(shape, offset) });
            held.delete(offset);
          } else {
            ipam = await createIpam(options);
          }
          const inRange = [...held].filter((o) => o >= shape.lo && o < shape.hi).length;
          assert.is(ipam.freeCount(PoolID), BigInt(shape.hi - shape.lo - inRange));
          assert.is(ipam.allocations(PoolID).length, held.size);
        }
        assert.equal(
          ipam.allocations(PoolID),
          [...held].sort((a, b) => a - b).map((o) => textOf(shape, o)),
        );
      },
    ),
    { numRuns: 150 },
  );
});

test.run();

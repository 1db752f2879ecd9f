import { TsnetError } from "@tsnet/protocol";
import { type Family, formatNetwork, type Network, overlaps, parseNetwork } from "./address.js";

/** One `--default-address-pool base=...,size=...` entry: `base` cut into networks of prefix length `size`. */
export interface DefaultPool {
  base: string;
  size: number;
}

/** Docker 20.10's local default pools (ipamutils): 172.17–172.31 as /16s, then 192.168.0.0/16 in /20s. */
export const DOCKER_LOCAL_DEFAULT_POOLS: readonly DefaultPool[] = [
  { base: "172.17.0.0/16", size: 16 },
  { base: "172.18.0.0/16", size: 16 },
  { base: "172.19.0.0/16", size: 16 },
  { base: "172.20.0.0/14", size: 16 },
  { base: "172.24.0.0/14", size: 16 },
  { base: "172.28.0.0/14", size: 16 },
  { base: "192.168.0.0/16", size: 20 },
];

/** Docker 20.10's global (swarm) default pool: 10.0.0.0/8 in /24s. */
export const DOCKER_GLOBAL_DEFAULT_POOLS: readonly DefaultPool[] = [{ base: "10.0.0.0/8", size: 24 }];

/** A validated default pool. */
export interface DefaultPoolRange {
  base: Network;
  size: number;
}

/**
 * Validates a default-pool list.
 * @throws TsnetError INVALID_ARGUMENT naming the entry when a base is malformed or a size is not between the base's
 * prefix length and the address length.
 */
export function parseDefaultPools(pools: readonly DefaultPool[]): DefaultPoolRange[] {
  return pools.map((pool, index) => {
    const base = parseNetwork(pool.base);
    if (base === undefined) {
      throw new TsnetError("INVALID_ARGUMENT", `defaultPools[${index}].base "${pool.base}" is not a CIDR`);
    }
    if (!Number.isInteger(pool.size) || pool.size < base.prefix || pool.size > base.bits) {
      throw new TsnetError(
        "INVALID_ARGUMENT",
        `defaultPools[${index}].size ${pool.size} must be an integer from ${base.prefix} to ${base.bits} for base ${formatNetwork(base)}`,
      );
    }
    return { base, size: pool.size };
  });
}

/** Every candidate network of the list for one family, in order: base 0 cut first, then the next base. */
export function* candidates(pools: readonly DefaultPoolRange[], family: Family): Generator<Network> {
  for (const { base, size } of pools) {
    if (base.family !== family) continue;
    const step = 1n << BigInt(base.bits - size);
    const count = 1n << BigInt(size - base.prefix);
    for (let i = 0n; i < count; i++) {
      yield { family, base: base.base + i * step, prefix: size, bits: base.bits, size: step };
    }
  }
}

/**
 * The first candidate of `pools` for `family` that is not `taken` (overlaps a held pool) and overlaps no host route.
 * @throws TsnetError EXHAUSTED when none is left, or when no pool of the family is configured.
 */
export function chooseDefaultPool(
  call: string,
  space: string,
  pools: readonly DefaultPoolRange[],
  family: Family,
  taken: (candidate: Network) => boolean,
  routes: readonly Network[],
): Network {
  let tried = 0;
  for (const candidate of candidates(pools, family)) {
    tried++;
    if (taken(candidate)) continue;
    if (routes.some((route) => overlaps(route, candidate))) continue;
    return candidate;
  }
  if (tried === 0) {
    throw new TsnetError(
      "EXHAUSTED",
      `${call}: no default IPv${family} pool is configured for address space "${space}"; pass a subnet`,
    );
  }
  throw new TsnetError(
    "EXHAUSTED",
    `${call}: no default pool left in address space "${space}": all ${tried} overlap held pools or host routes`,
  );
}

import type { StoredValue } from "@tsnet/store";

/** Store keys, all under `ipam/`. A single allocation writes one small key. */
export const KEYS = {
  /** `ipam/pool/<PoolID>` → {@link StoredPool} */
  pool: (poolId: string): string => `ipam/pool/${poolId}`,
  /** `ipam/addr/<PoolID>/<address>` → "gateway" | "address" */
  address: (poolId: string, address: string): string => `ipam/addr/${poolId}/${address}`,
  /** `ipam/cursor/<PoolID>` → decimal offset of the last serial allocation */
  cursor: (poolId: string): string => `ipam/cursor/${poolId}`,
} as const;

/** The stored form of a pool. */
export interface StoredPool {
  [key: string]: StoredValue;
  addressSpace: string;
  pool: string;
  subPool: string;
  options: Record<string, string>;
  v6: boolean;
}

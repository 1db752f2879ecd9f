/**
 * Read-only views of the daemon's state for the admin socket and offline tools: networks and endpoints from the
 * bridge driver's store records, pools from the IPAM, as plain JSON (bigints as numbers when exact, else strings).
 */
import { ENDPOINT_PREFIX, type EndpointRecord, NETWORK_PREFIX, type NetworkRecord } from "@tsnet/bridge";
import type { PoolInfo } from "@tsnet/ipam";
import type { Store } from "@tsnet/store";

/** What the IPAM exposes for inspection (the `Ipam` class of @tsnet/ipam). */
export interface IpamView {
  pools(): PoolInfo[];
  allocations(poolId: string): string[];
  freeCount(poolId: string): bigint;
}

/** A count as JSON: a number when exact, else a decimal string (an IPv6 /64 has 2^64 addresses). */
export type Count = number | string;

export function toCount(value: bigint): Count {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
}

/** One endpoint as `tsnet ls --json` shows it. */
export interface EndpointView {
  id: string;
  networkId: string;
  hostVeth: string;
  /** The container end; in the container's namespace while it runs. */
  peerVeth: string;
  address: string;
  addressIpv6: string;
  macAddress: string;
  published: Array<{ proto: string; hostIp: string; hostPort: number; containerPort: number }>;
}

/** One network as `tsnet ls --json` shows it. */
export interface NetworkView {
  id: string;
  bridge: string;
  mtu: number;
  internal: boolean;
  icc: boolean;
  masquerade: boolean;
  subnets: string[];
  gateways: string[];
  endpoints: EndpointView[];
}

/** One pool as `tsnet ls --json` / `tsnet ipam show` show it. */
export interface PoolView {
  poolId: string;
  addressSpace: string;
  pool: string;
  subPool: string;
  v6: boolean;
  options: Record<string, string>;
  allocated: Count;
  free: Count;
  /** Networks whose subnets are this pool (by the bridge records). */
  networkIds: string[];
}

/** The sources the views read. */
export interface StateSources {
  /** The shared store (bridge records); absent → networks unknown. */
  store?: Pick<Store, "list"> | undefined;
  /** Where endpoint records live when apart from `store` (the daemon's endpoint journal store). */
  endpoints?: Pick<Store, "list"> | undefined;
  /** The IPAM; absent → pools unknown. */
  ipam?: IpamView | undefined;
}

/** Whether `value` looks like the IPAM's inspection surface. */
export function isIpamView(value: unknown): value is IpamView {
  const candidate = value as Partial<IpamView> | undefined;
  return (
    typeof candidate?.pools === "function" &&
    typeof candidate.allocations === "function" &&
    typeof candidate.freeCount === "function"
  );
}

function publishedOf(record: EndpointRecord): EndpointView["published"] {
  const list = (record.published ?? []) as unknown as Array<Record<string, unknown>>;
  return list.map((entry) => ({
    proto: String(entry.proto ?? ""),
    hostIp: String(entry.hostIp ?? ""),
    hostPort: Number(entry.hostPort ?? 0),
    containerPort: Number(entry.containerPort ?? 0),
  }));
}

/** Networks with their endpoints, ordered by id. */
export function listNetworks(sources: StateSources): NetworkView[] {
  if (sources.store === undefined) return [];
  const endpoints = new Map<string, EndpointView[]>();
  const endpointStore = sources.endpoints ?? sources.store;
  for (const [, record] of endpointStore.list<EndpointRecord & Record<string, never>>(ENDPOINT_PREFIX)) {
    const view: EndpointView = {
      id: record.id,
      networkId: record.networkId,
      hostVeth: record.hostVeth,
      peerVeth: record.peerVeth,
      address: record.address,
      addressIpv6: record.addressIpv6,
      macAddress: record.macAddress,
      published: publishedOf(record),
    };
    const list = endpoints.get(record.networkId) ?? [];
    list.push(view);
    endpoints.set(record.networkId, list);
  }
  return sources.store.list<NetworkRecord & Record<string, never>>(NETWORK_PREFIX).map(([, record]) => ({
    id: record.id,
    bridge: record.bridge,
    mtu: record.mtu,
    internal: record.internal,
    icc: record.icc,
    masquerade: record.masquerade,
    subnets: [...record.ipv4, ...record.ipv6].map((subnet) => subnet.pool),
    gateways: [...record.ipv4, ...record.ipv6].flatMap((subnet) => (subnet.gateway ? [subnet.gateway] : [])),
    endpoints: endpoints.get(record.id) ?? [],
  }));
}

function canonicalPool(cidr: string): string {
  return cidr.toLowerCase();
}

/** Pools with usage, ordered as the IPAM lists them. */
export function listPools(sources: StateSources, networks: readonly NetworkView[] = listNetworks(sources)): PoolView[] {
  if (sources.ipam === undefined) return [];
  return sources.ipam.pools().map((pool) => ({
    poolId: pool.poolId,
    addressSpace: pool.addressSpace,
    pool: pool.pool,
    subPool: pool.subPool,
    v6: pool.v6,
    options: pool.options,
    allocated: toCount(pool.allocated),
    free: toCount(pool.free),
    networkIds: networks
      .filter((network) => network.subnets.some((subnet) => sameNetwork(subnet, pool.pool)))
      .map((network) => network.id),
  }));
}

/** Whether two CIDRs name the same network (the bridge stores the pool as IPAM gave it). */
function sameNetwork(a: string, b: string): boolean {
  return canonicalPool(a) === canonicalPool(b);
}

/** Counts for `tsnet status`. */
export interface StateCounts {
  networks: number;
  endpoints: number;
  pools: number;
  addresses: Count;
}

export function countState(sources: StateSources): StateCounts {
  const networks = listNetworks(sources);
  const pools = sources.ipam?.pools() ?? [];
  return {
    networks: networks.length,
    endpoints: networks.reduce((sum, network) => sum + network.endpoints.length, 0),
    pools: pools.length,
    addresses: toCount(pools.reduce((sum, pool) => sum + pool.allocated, 0n)),
  };
}

/** A pool with its allocations, for `tsnet ipam show`. */
export interface PoolDetail extends PoolView {
  allocations: string[];
}

/**
 * Finds the pools of one network: `query` is a PoolID, a pool/sub-pool CIDR, or a NetworkID (or a unique prefix of
 * one, at least 4 characters).
 * @returns the matching pools with allocations; empty when nothing matches
 * @throws Error when a NetworkID prefix is ambiguous
 */
export function findPools(sources: StateSources, query: string): PoolDetail[] {
  const networks = listNetworks(sources);
  const pools = listPools(sources, networks);
  const detail = (pool: PoolView): PoolDetail => ({
    ...pool,
    allocations: sources.ipam?.allocations(pool.poolId) ?? [],
  });
  const direct = pools.filter(
    (pool) =>
      pool.poolId === query ||
      sameNetwork(pool.pool, query) ||
      (pool.subPool !== "" && sameNetwork(pool.subPool, query)),
  );
  if (direct.length > 0) return direct.map(detail);
  if (query.length < 4 || !/^[0-9a-f]+$/i.test(query)) return [];
  const matching = networks.filter((network) => network.id.startsWith(query.toLowerCase()));
  if (matching.length > 1) {
    throw new Error(
      `"${query}" matches ${matching.length} networks: ${matching.map((n) => n.id.slice(0, 12)).join(", ")}`,
    );
  }
  const network = matching[0];
  if (network === undefined) return [];
  return pools.filter((pool) => pool.networkIds.includes(network.id)).map(detail);
}

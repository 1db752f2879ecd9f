/**
 * The pure part of reconciliation: given what tsnet holds and what Docker has, which networks, endpoints, pools
 * and addresses no Docker object accounts for.
 */
import { parseNetwork } from "@tsnet/ipam";
import { activityKey, normalizeAddress } from "./activity.js";
import type { DockerNetwork } from "./docker-api.js";

/** What tsnet holds, read from the store and the IPAM. */
export interface HeldState {
  networks: string[];
  endpoints: Array<{ networkId: string; endpointId: string }>;
  pools: Array<{ poolId: string; addressSpace: string; pool: string; subPool: string }>;
  /** Allocated addresses (plain IPs) per PoolID, with whether the IPAM holds each as the gateway. */
  addresses: Map<string, Array<{ address: string; gateway: boolean }>>;
}

/** Objects no Docker object accounts for. */
export interface Orphans {
  networks: string[];
  endpoints: Array<{ networkId: string; endpointId: string }>;
  pools: string[];
  addresses: Array<{ poolId: string; address: string }>;
}

/** Docker's view, restricted to the networks that use this plugin as network driver or IPAM driver. */
export interface DockerView {
  pluginName: string;
  /** Address space names of the IPAM: local-scope networks use `local`, swarm/global ones `global`. */
  spaces: { local: string; global: string };
  /** Networks (inspected, with `Containers`) whose Driver or IPAM.Driver is the plugin. */
  networks: DockerNetwork[];
}

/** True when Docker names this plugin as a network's driver or IPAM driver (a managed plugin may carry `:latest`). */
export function usesPlugin(name: string, pluginName: string): boolean {
  return name === pluginName || name === `${pluginName}:latest`;
}

function canonicalCidr(text: string | undefined): string {
  if (text === undefined || text === "") return "";
  const network = parseNetwork(text);
  // The base is kept as the IPAM keeps it: host bits cleared, as Go's net.ParseCIDR.
  if (network === undefined) return text;
  const hostBits = BigInt(network.bits - network.prefix);
  const base = (network.base >> hostBits) << hostBits;
  return `${network.family}:${base}/${network.prefix}`;
}

function poolKey(space: string, pool: string, subPool: string): string {
  return `${space}|${canonicalCidr(pool)}|${canonicalCidr(subPool)}`;
}

/**
 * Computes the orphans of `held` against `docker`. An endpoint of a network Docker no longer has is not listed
 * separately: removing the network removes its endpoints.
 */
export function findOrphans(held: HeldState, docker: DockerView): Orphans {
  const drivenNetworks = new Map<string, DockerNetwork>();
  const wantedPools = new Map<string, Set<string>>();
  for (const network of docker.networks) {
    if (usesPlugin(network.Driver, docker.pluginName)) drivenNetworks.set(network.Id, network);
    if (!usesPlugin(network.IPAM.Driver, docker.pluginName)) continue;
    const space = network.Scope === "local" ? docker.spaces.local : docker.spaces.global;
    const inUse = new Set<string>();
    for (const endpoint of Object.values(network.Containers ?? {})) {
      for (const address of [endpoint.IPv4Address, endpoint.IPv6Address]) {
        if (address) inUse.add(normalizeAddress(address));
      }
    }
    for (const config of network.IPAM.Config ?? []) {
      if (!config.Subnet) continue;
      const key = poolKey(space, config.Subnet, config.IPRange ?? "");
      const addresses = wantedPools.get(key) ?? new Set<string>();
      for (const address of inUse) addresses.add(address);
      if (config.Gateway) addresses.add(normalizeAddress(config.Gateway));
      for (const aux of Object.values(config.AuxiliaryAddresses ?? {})) addresses.add(normalizeAddress(aux));
      wantedPools.set(key, addresses);
    }
  }

  const orphans: Orphans = { networks: [], endpoints: [], pools: [], addresses: [] };
  for (const networkId of held.networks) {
    if (!drivenNetworks.has(networkId)) orphans.networks.push(networkId);
  }
  for (const endpoint of held.endpoints) {
    const network = drivenNetworks.get(endpoint.networkId);
    if (network === undefined) continue;
    const known = Object.values(network.Containers ?? {}).some((entry) => entry.EndpointID === endpoint.endpointId);
    if (!known) orphans.endpoints.push(endpoint);
  }
  for (const pool of held.pools) {
    const wanted = wantedPools.get(poolKey(pool.addressSpace, pool.pool, pool.subPool));
    if (wanted === undefined) {
      orphans.pools.push(pool.poolId);
      continue;
    }
    for (const { address, gateway } of held.addresses.get(pool.poolId) ?? []) {
      // The gateway stays: Docker shows it only when the user gave --gateway, but the network always holds one.
      if (gateway || wanted.has(normalizeAddress(address))) continue;
      orphans.addresses.push({ poolId: pool.poolId, address });
    }
  }
  return orphans;
}

/** The orphans found by both passes (`first` and `second`) that no call has touched since the first began. */
export function confirmOrphans(first: Orphans, second: Orphans, touched: (key: string) => boolean): Orphans {
  const again = {
    networks: new Set(second.networks),
    endpoints: new Set(second.endpoints.map((e) => e.endpointId)),
    pools: new Set(second.pools),
    addresses: new Set(second.addresses.map((a) => activityKey.address(a.poolId, a.address))),
  };
  return {
    networks: first.networks.filter((id) => again.networks.has(id) && !touched(activityKey.network(id))),
    endpoints: first.endpoints.filter(
      (e) => again.endpoints.has(e.endpointId) && !touched(activityKey.endpoint(e.endpointId)),
    ),
    pools: first.pools.filter((id) => again.pools.has(id) && !touched(activityKey.pool(id))),
    addresses: first.addresses.filter((a) => {
      const key = activityKey.address(a.poolId, a.address);
      return again.addresses.has(key) && !touched(key) && !touched(activityKey.pool(a.poolId));
    }),
  };
}

/** Number of objects in a set of orphans. */
export function orphanCount(orphans: Orphans): number {
  return orphans.networks.length + orphans.endpoints.length + orphans.pools.length + orphans.addresses.length;
}

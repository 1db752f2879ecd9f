import type { Namespace, VethPool } from "@tsnet/kernel";
import type { Logger } from "@tsnet/protocol";
import type { Store } from "@tsnet/store";
import type { FirewallNetworkBase, FirewallState } from "./firewall-state.js";
import { cidrContains, parseCidr } from "./ip.js";
import type { PortAllocator } from "./ports.js";
import type { Reaping } from "./reaping.js";
import { type NetworkRecord, networkKey } from "./records.js";

/** What every driver call works with. */
export interface BridgeDeps {
  namespace: Namespace;
  firewall: FirewallState;
  /** Network records (they outlive reboots: Docker keeps its networks). */
  store: Store;
  /** Endpoint records: they live as long as their veths, so a store that survives a process crash is enough. */
  endpoints: Store;
  log: Logger;
  reaper: Reaping;
  ports: PortAllocator;
  defaultMtu: number;
  /** Pre-made veth pairs (real kernel only); without it each endpoint's pair is created on the spot. */
  vethPool: VethPool | undefined;
  /** Bridge name → NetworkID, held from the start of CreateNetwork so two networks never share a bridge. */
  bridges: Map<string, string>;
  /** NetworkID → its pools, held the same way: Docker's bridge refuses networks whose subnets overlap. */
  subnets: Map<string, string[]>;
  /**
   * NetworkID → its committed record: every endpoint call reads its network, and a network record never changes
   * after its CreateNetwork, so reads skip lmdb's decode. Filled as records are committed, read, or deleted
   * (see {@link readNetwork}); the store stays the truth.
   */
  networks: Map<string, NetworkRecord>;
}

/** The committed record of a network, from memory when it was seen before, else from the store. */
export function readNetwork(deps: BridgeDeps, networkId: string): NetworkRecord | undefined {
  const known = deps.networks.get(networkId);
  if (known !== undefined) return known;
  const stored = deps.store.get<NetworkRecord>(networkKey(networkId));
  if (stored !== undefined) deps.networks.set(networkId, stored);
  return stored;
}

/** A network's firewall entry: isolation, ICC and NAT come from its configuration. */
export function firewallNetwork(record: NetworkRecord): FirewallNetworkBase {
  const subnets = [...record.ipv4, ...record.ipv6].map((subnet) => {
    const pool = parseCidr(subnet.pool);
    return pool === undefined ? subnet.pool : `${pool.address}/${pool.prefix}`;
  });
  return {
    id: record.id,
    bridge: record.bridge,
    subnets,
    internal: record.internal,
    masquerade: record.masquerade && !record.internal,
    icc: record.icc,
  };
}

/** Whether two CIDRs share any address (same family, one holds the other's network address). */
export function cidrsOverlap(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  if (x === undefined || y === undefined || x.family !== y.family) return false;
  const narrower = x.prefix >= y.prefix ? x : y;
  const wider = narrower === x ? y : x;
  return cidrContains(wider, narrower);
}

/** CreateNetwork and DeleteNetwork: the bridge, its gateway addresses and its firewall entry. */
import type { VethAttachment } from "@tsnet/kernel";
import type { CreateNetworkRequest, DeleteNetworkRequest } from "@tsnet/protocol";
import { BRIDGE_NAME_OPTION, TsnetError } from "@tsnet/protocol";
import { type BridgeDeps, cidrsOverlap, firewallNetwork, readNetwork } from "./deps.js";
import { parseCidr } from "./ip.js";
import { bridgeName, isOwnLinkName } from "./names.js";
import { type NetworkConfig, parseNetworkConfig } from "./options.js";
import {
  cleanupSignal,
  type EndpointRecord,
  endpointPrefix,
  type NetworkRecord,
  networkKey,
  shortId,
  Undo,
} from "./records.js";

function normalizeCidr(text: string): string {
  const cidr = parseCidr(text);
  return cidr === undefined ? text : `${cidr.address}/${cidr.prefix}`;
}

/** JSON with object keys sorted at every level, so equal values compare equal whatever the store did to key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function sameConfig(record: NetworkRecord, config: NetworkConfig): boolean {
  const { id: _id, ownsBridge: _owns, addedAddresses: _added, ...stored } = record;
  return canonical(stored) === canonical(config);
}

function bridgeWhat(config: NetworkConfig): string {
  return config.namedByUser ? `option ${BRIDGE_NAME_OPTION} "${config.bridge}"` : `bridge "${config.bridge}"`;
}

/**
 * Creates (or adopts, when the user named an existing bridge, as Docker does) the bridge, sets its MTU,
 * gateway addresses and up state, adds its firewall entry, then records it. A replay with the same options
 * succeeds without work. On any failure every step is undone in reverse.
 * @throws INVALID_ARGUMENT for a bad option; CONFLICT when the bridge name is taken, a pool overlaps another
 * network's (as Docker's bridge refuses), or the id exists with other options
 */
export async function createNetwork(
  deps: BridgeDeps,
  request: CreateNetworkRequest,
  signal: AbortSignal,
): Promise<void> {
  const id = request.NetworkID;
  const log = deps.log.child({ networkId: shortId(id) });
  const config = parseNetworkConfig(request, deps.defaultMtu, log);
  const known = readNetwork(deps, id);
  if (known !== undefined) {
    if (sameConfig(known, config)) return;
    throw new TsnetError("CONFLICT", `CreateNetwork: network ${shortId(id)} already exists with other options`);
  }
  const holder = deps.bridges.get(config.bridge);
  if (holder !== undefined && holder !== id) {
    throw new TsnetError("CONFLICT", `${bridgeWhat(config)} is already used by network ${shortId(holder)}`);
  }
  const pools = [...config.ipv4, ...config.ipv6].map((subnet) => subnet.pool);
  for (const [other, otherPools] of deps.subnets) {
    if (other === id) continue;
    for (const pool of pools) {
      const overlapping = otherPools.find((otherPool) => cidrsOverlap(pool, otherPool));
      if (overlapping !== undefined) {
        throw new TsnetError(
          "CONFLICT",
          `CreateNetwork: pool ${pool} overlaps ${overlapping} of network ${shortId(other)}`,
        );
      }
    }
  }
  deps.bridges.set(config.bridge, id);
  deps.subnets.set(id, pools);
  const undo = new Undo();
  undo.push(() => {
    deps.bridges.delete(config.bridge);
    deps.subnets.delete(id);
  });
  const { links, addresses } = deps.namespace;
  try {
    await deps.reaper.settle(config.bridge);
    const existing = await links.get(config.bridge, signal);
    if (existing !== undefined && existing.kind !== "bridge") {
      throw new TsnetError("CONFLICT", `${bridgeWhat(config)}: a ${existing.kind} link of that name exists`);
    }
    const ownsBridge = existing === undefined || isOwnLinkName(config.bridge);
    if (existing === undefined) {
      await links.addBridge(config.bridge, { mtu: config.mtu }, signal);
      undo.push(() => links.delete(config.bridge, cleanupSignal()));
    } else if (existing.mtu !== config.mtu) {
      await links.setMtu(config.bridge, config.mtu, signal);
      undo.push(() => links.setMtu(config.bridge, existing.mtu, cleanupSignal()));
    }
    const present = new Set(
      existing === undefined ? [] : (await addresses.list(config.bridge, signal)).map(normalizeCidr),
    );
    const addedAddresses: string[] = [];
    for (const subnet of [...config.ipv4, ...config.ipv6]) {
      if (subnet.gateway === undefined || present.has(normalizeCidr(subnet.gateway))) continue;
      await addresses.add(config.bridge, subnet.gateway, signal);
      addedAddresses.push(subnet.gateway);
      const gateway = subnet.gateway;
      undo.push(() => addresses.remove(config.bridge, gateway, cleanupSignal()));
    }
    await links.setUp(config.bridge, signal);
    const record: NetworkRecord = { ...config, id, ownsBridge, addedAddresses: ownsBridge ? [] : addedAddresses };
    deps.firewall.setNetwork(firewallNetwork(record));
    undo.push(() => {
      deps.firewall.deleteNetwork(id);
      return deps.firewall.sync();
    });
    await deps.firewall.sync();
    await deps.store.transaction((tx) => tx.put(networkKey(id), record), signal);
    deps.networks.set(id, record);
    fillVethPool(deps, record);
    log.info(
      { bridge: config.bridge, mtu: config.mtu, internal: config.internal, adopted: !ownsBridge },
      "network created",
    );
  } catch (error) {
    await undo.run(log);
    throw error;
  }
}

/** What every endpoint of `network` gets: its veth pair's host end on the bridge, hairpin on, at the MTU. */
export function vethAttachment(network: NetworkRecord): VethAttachment {
  // Hairpin on the host end's port: without a userland proxy (Docker sets it when its proxy is off), a container
  // reaching its own published port through a host address is DNATed back to itself, out the port it came in by.
  return { mtu: network.mtu, master: network.bridge, hairpin: true };
}

/** Readies veth pairs for the network's endpoints in the background (nothing to wait for: a take makes one). */
export function fillVethPool(deps: BridgeDeps, network: NetworkRecord): void {
  deps.vethPool
    ?.fill(vethAttachment(network))
    .catch((error: unknown) => deps.log.warn({ err: error, bridge: network.bridge }, "cannot ready veth pairs"));
}

/**
 * Removes a network: its record first, then its firewall entry, its endpoints' veths (should Docker force
 * the delete with endpoints left) and its bridge. Best-effort past the record: kernel and firewall failures are
 * logged, unknown ids succeed (protocol.md pitfalls 10–11).
 * @throws UNAVAILABLE only when the store cannot commit; then nothing has changed
 */
export async function deleteNetwork(
  deps: BridgeDeps,
  request: DeleteNetworkRequest,
  signal: AbortSignal,
): Promise<void> {
  const id = request.NetworkID;
  const log = deps.log.child({ networkId: shortId(id) });
  const record = readNetwork(deps, id);
  if (record === undefined) {
    // A crash between the kernel work and the record of a CreateNetwork leaves a bridge by the generated name.
    const leftover = bridgeName(id);
    if (!deps.bridges.has(leftover)) {
      await deps.namespace.links
        .delete(leftover, cleanupSignal())
        .catch((error: unknown) => log.warn({ err: error, bridge: leftover }, "cannot delete leftover bridge"));
    }
    return;
  }
  // A failed commit throws with nothing changed (see deleteEndpoint).
  await deps.store.transaction((tx) => tx.delete(networkKey(id)), signal);
  deps.networks.delete(id);
  // Endpoint records after the network's: from here no CreateEndpoint passes its network check (endpoints.ts).
  // Should this second commit fail or the process die here, start-up reconcile drops records without a network.
  const endpoints = deps.endpoints.list<EndpointRecord>(endpointPrefix(id)).map(([, endpoint]) => endpoint);
  if (endpoints.length > 0) {
    await deps.endpoints
      .transaction((tx) => {
        for (const endpoint of endpoints) tx.delete(`${endpointPrefix(id)}${endpoint.id}`);
      }, cleanupSignal())
      .catch((error: unknown) => log.warn({ err: error }, "cannot delete the network's endpoint records"));
  }
  deps.firewall.deleteNetwork(id);
  await deps.firewall.sync().catch((error: unknown) => log.warn({ err: error }, "firewall update failed"));
  for (const endpoint of endpoints) {
    deps.ports.release(endpoint.id);
    await deps.reaper.reap(endpoint.hostVeth);
  }
  await deps.vethPool?.discard(record.bridge);
  if (record.ownsBridge) {
    // Inline, not queued: a user-named bridge may be created again right after, and must not vanish then.
    await deps.namespace.links
      .delete(record.bridge, cleanupSignal())
      .catch((error: unknown) => log.error({ err: error, bridge: record.bridge }, "cannot delete bridge"));
  } else {
    for (const address of record.addedAddresses) {
      await deps.namespace.addresses
        .remove(record.bridge, address, cleanupSignal())
        .catch((error: unknown) => log.warn({ err: error, address }, "cannot remove gateway address"));
    }
  }
  if (deps.bridges.get(record.bridge) === id) deps.bridges.delete(record.bridge);
  deps.subnets.delete(id);
  log.info({ bridge: record.bridge, endpoints: endpoints.length }, "network deleted");
}

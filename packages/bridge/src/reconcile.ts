/**
 * Start-up reconciliation: make the kernel match the store. Stored bridges and host veths that are missing
 * are recreated, drifted ones (MTU, master, down) repaired, the firewall state rebuilt and applied, and links
 * with a bridge-driver prefix that no record names (a crash mid-call, a DeleteEndpoint Docker never sent)
 * are removed.
 */
import type { Link } from "@tsnet/kernel";
import type { BridgeDeps } from "./deps.js";
import { firewallNetwork } from "./deps.js";
import { isOwnLinkName } from "./names.js";
import { fillVethPool } from "./networks.js";
import { toPortPublishes } from "./ports.js";
import { ENDPOINT_PREFIX, type EndpointRecord, endpointKey, NETWORK_PREFIX, type NetworkRecord } from "./records.js";

/** What reconcile found and did. */
export interface ReconcileSummary {
  networks: number;
  endpoints: number;
  /** Links that were missing and are created again. */
  recreated: string[];
  /** Links whose MTU, master or up state is put right. */
  repaired: string[];
  /** Links of ours that nothing owned, queued for deletion. */
  removed: string[];
  /** Objects that could not be put right (see the log); `firewall` when the apply failed. */
  failed: string[];
}

function plainIp(cidr: string): string {
  return cidr === "" ? "" : (cidr.split("/")[0] as string);
}

/** Reconciles the kernel with the store; never throws for a single object, lists it in `failed`. */
export async function reconcile(deps: BridgeDeps, signal: AbortSignal): Promise<ReconcileSummary> {
  const { links, addresses } = deps.namespace;
  const networks = deps.store.list<NetworkRecord>(NETWORK_PREFIX).map(([, record]) => record);
  const endpoints = deps.endpoints.list<EndpointRecord>(ENDPOINT_PREFIX).map(([, record]) => record);
  const present = new Map<string, Link>((await links.list(signal)).map((link) => [link.name, link]));
  const summary: ReconcileSummary = {
    networks: networks.length,
    endpoints: endpoints.length,
    recreated: [],
    repaired: [],
    removed: [],
    failed: [],
  };
  const byId = new Map(networks.map((network) => [network.id, network]));
  const owned = new Set<string>();

  deps.networks.clear();
  for (const network of networks) {
    deps.networks.set(network.id, network);
    owned.add(network.bridge);
    deps.bridges.set(network.bridge, network.id);
    deps.subnets.set(
      network.id,
      [...network.ipv4, ...network.ipv6].map((subnet) => subnet.pool),
    );
    deps.firewall.setNetwork(firewallNetwork(network));
    try {
      const link = present.get(network.bridge);
      if (link === undefined) {
        await links.addBridge(network.bridge, { mtu: network.mtu, up: true }, signal);
        summary.recreated.push(network.bridge);
      } else if (link.kind !== "bridge") {
        throw new Error(`"${network.bridge}" is a ${link.kind}, not a bridge`);
      } else if (link.mtu !== network.mtu || !link.up) {
        if (link.mtu !== network.mtu) await links.setMtu(network.bridge, network.mtu, signal);
        summary.repaired.push(network.bridge);
      }
      for (const subnet of [...network.ipv4, ...network.ipv6]) {
        if (subnet.gateway !== undefined) await addresses.add(network.bridge, subnet.gateway, signal);
      }
      await links.setUp(network.bridge, signal);
      fillVethPool(deps, network);
    } catch (error) {
      summary.failed.push(network.bridge);
      deps.log.error(
        { err: error, networkId: network.id.slice(0, 12), bridge: network.bridge },
        "cannot restore bridge",
      );
    }
  }

  const orphans: string[] = [];
  for (const endpoint of endpoints) {
    const network = byId.get(endpoint.networkId);
    if (network === undefined) {
      // Its network record is gone (a forced delete): the record goes, its links are removed below.
      orphans.push(endpointKey(endpoint.networkId, endpoint.id));
      continue;
    }
    owned.add(endpoint.hostVeth);
    owned.add(endpoint.peerVeth);
    deps.ports.release(endpoint.id);
    deps.ports.restore(endpoint.id, endpoint.published);
    deps.firewall.setPublishes(
      network.id,
      endpoint.id,
      toPortPublishes(endpoint.published, plainIp(endpoint.address), plainIp(endpoint.addressIpv6)),
    );
    try {
      const host = present.get(endpoint.hostVeth);
      if (host === undefined) {
        if (present.has(endpoint.peerVeth)) await links.delete(endpoint.peerVeth, signal);
        await links.addVethPair(
          endpoint.hostVeth,
          endpoint.peerVeth,
          { mtu: network.mtu, peerMacAddress: endpoint.macAddress, master: network.bridge, up: true, hairpin: true },
          signal,
        );
        summary.recreated.push(endpoint.hostVeth);
      } else if (host.master !== network.bridge || !host.up || host.mtu !== network.mtu) {
        if (host.mtu !== network.mtu) await links.setMtu(endpoint.hostVeth, network.mtu, signal);
        if (host.master !== network.bridge) await links.setMaster(endpoint.hostVeth, network.bridge, signal);
        if (!host.up) await links.setUp(endpoint.hostVeth, signal);
        summary.repaired.push(endpoint.hostVeth);
      }
    } catch (error) {
      summary.failed.push(endpoint.hostVeth);
      deps.log.error(
        { err: error, endpointId: endpoint.id.slice(0, 12), hostVeth: endpoint.hostVeth },
        "cannot restore veth",
      );
    }
  }

  if (orphans.length > 0) {
    await deps.endpoints
      .transaction((tx) => {
        for (const key of orphans) tx.delete(key);
      }, signal)
      .catch((error: unknown) => deps.log.warn({ err: error }, "cannot delete orphaned endpoint records"));
  }

  // Another daemon on this host (another plugin name) stamps its links with another group: never ours to remove.
  const ownGroup = links.linkGroup ?? 0;
  for (const [name, link] of present) {
    if (!isOwnLinkName(name) || owned.has(name)) continue;
    if (link.group !== undefined && link.group !== ownGroup) continue;
    summary.removed.push(name);
    await deps.reaper.reap(name);
  }

  try {
    await deps.firewall.sync();
  } catch (error) {
    summary.failed.push("firewall");
    deps.log.error({ err: error }, "cannot apply firewall state");
  }
  deps.log.info(
    {
      networks: summary.networks,
      endpoints: summary.endpoints,
      recreated: summary.recreated.length,
      repaired: summary.repaired.length,
      removed: summary.removed.length,
      failed: summary.failed.length,
    },
    "reconciled",
  );
  return summary;
}

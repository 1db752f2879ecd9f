/** ProgramExternalConnectivity / RevokeExternalConnectivity: published ports as DNAT entries of the firewall state. */
import type { EndpointRequest, PortBinding, ProgramExternalConnectivityRequest } from "@tsnet/protocol";
import type { BridgeDeps } from "./deps.js";
import { requireEndpoint, requireNetwork } from "./endpoints.js";
import { toPortPublishes } from "./ports.js";
import { type EndpointRecord, endpointKey, type StoredPortBinding, shortId, Undo } from "./records.js";

function storedBindings(bindings: readonly PortBinding[]): StoredPortBinding[] {
  return bindings.map(({ Proto, IP, Port, HostIP, HostPort, HostPortEnd }) => ({
    Proto,
    IP,
    Port,
    HostIP,
    HostPort,
    HostPortEnd,
  }));
}

function plainIp(cidr: string): string {
  return cidr === "" ? "" : (cidr.split("/")[0] as string);
}

/**
 * Publishes the sandbox's port bindings on this endpoint: picks host ports (fixed, first free of a range, or
 * from the ephemeral range for `-P`), hands the whole desired state to the firewall, then records it.
 * A replay with the same bindings does nothing; Program on an internal network publishes nothing (Docker
 * sends it there when the gateway endpoint leaves).
 * @throws NOT_FOUND for an unknown endpoint; CONFLICT naming the port when another endpoint or the host holds it
 */
export async function programExternalConnectivity(
  deps: BridgeDeps,
  request: ProgramExternalConnectivityRequest,
  signal: AbortSignal,
): Promise<void> {
  const endpoint = requireEndpoint(deps, "ProgramExternalConnectivity", request);
  const network = requireNetwork(deps, "ProgramExternalConnectivity", request.NetworkID);
  if (network.internal) return;
  const bindings = storedBindings(request.Options.portBindings);
  if (endpoint.bindings !== null && JSON.stringify(endpoint.bindings) === JSON.stringify(bindings)) return;
  const log = deps.log.child({ networkId: shortId(request.NetworkID), endpointId: shortId(request.EndpointID) });
  const undo = new Undo();
  const previous = deps.ports.release(endpoint.id);
  undo.push(() => {
    deps.ports.release(endpoint.id);
    deps.ports.restore(endpoint.id, previous);
  });
  try {
    const families: Array<4 | 6> = [];
    if (endpoint.address !== "") families.push(4);
    if (endpoint.addressIpv6 !== "") families.push(6);
    const published = await deps.ports.allocate(endpoint.id, bindings, network.hostBindingIpv4, families);
    const before = deps.firewall.getPublishes(network.id, endpoint.id);
    const after = toPortPublishes(published, plainIp(endpoint.address), plainIp(endpoint.addressIpv6));
    if (JSON.stringify(before) !== JSON.stringify(after)) {
      deps.firewall.setPublishes(network.id, endpoint.id, after);
      undo.push(() => {
        deps.firewall.setPublishes(network.id, endpoint.id, before);
        return deps.firewall.sync();
      });
      await deps.firewall.sync();
    }
    const record: EndpointRecord = {
      ...endpoint,
      exposedPorts: request.Options.exposedPorts.map(({ Proto, Port }) => ({ Proto, Port })),
      bindings,
      published,
    };
    await deps.endpoints.transaction((tx) => tx.put(endpointKey(network.id, endpoint.id), record), signal);
    if (published.length > 0) log.info({ ports: published }, "ports published");
  } catch (error) {
    await undo.run(log);
    throw error;
  }
}

/**
 * Withdraws the endpoint's published ports. Succeeds for unknown endpoints and for endpoints never
 * programmed (Docker sends Revoke without Program, protocol.md §3.8).
 */
export async function revokeExternalConnectivity(
  deps: BridgeDeps,
  request: EndpointRequest,
  signal: AbortSignal,
): Promise<void> {
  const key = endpointKey(request.NetworkID, request.EndpointID);
  const endpoint = deps.endpoints.get<EndpointRecord>(key);
  if (endpoint === undefined || endpoint.bindings === null) return;
  const log = deps.log.child({ networkId: shortId(request.NetworkID), endpointId: shortId(request.EndpointID) });
  await deps.endpoints.transaction((tx) => tx.put(key, { ...endpoint, bindings: null, published: [] }), signal);
  deps.ports.release(endpoint.id);
  if (deps.firewall.getPublishes(endpoint.networkId, endpoint.id).length === 0) return;
  deps.firewall.setPublishes(endpoint.networkId, endpoint.id, []);
  // The record no longer names the ports; should this apply fail, the next one drops them.
  await deps.firewall.sync().catch((error: unknown) => log.warn({ err: error }, "firewall update failed"));
  log.info({ ports: endpoint.published.length }, "ports withdrawn");
}

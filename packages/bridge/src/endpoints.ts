/** CreateEndpoint, Join, Leave, DeleteEndpoint and EndpointOperInfo: one veth pair per endpoint. */

import type { VethAttachment } from "@tsnet/kernel";
import type {
  Awaitable,
  CallContext,
  CreateEndpointRequest,
  CreateEndpointResponse,
  EndpointOperInfoResponse,
  EndpointRequest,
  JoinRequest,
  JoinResponse,
} from "@tsnet/protocol";
import { isTsnetError, type Logger, TsnetError } from "@tsnet/protocol";
import type { Transaction } from "@tsnet/store";
import { type BridgeDeps, readNetwork } from "./deps.js";
import { parseCidr } from "./ip.js";
import { isMacAddress, macFromIpv4, randomMac } from "./mac.js";
import { hostVethName, peerVethName } from "./names.js";
import { vethAttachment } from "./networks.js";
import { subnetOf } from "./options.js";
import { cleanupSignal, type EndpointRecord, endpointKey, type NetworkRecord, shortId } from "./records.js";

const MAC_ADDRESS_LABEL = "com.docker.network.endpoint.macaddress";
const PORT_MAP_LABEL = "com.docker.network.portmap";
const EXPOSED_PORTS_LABEL = "com.docker.network.endpoint.exposedports";

function responseOf(endpoint: EndpointRecord): CreateEndpointResponse {
  // Docker fails CreateEndpoint when the reply sets a field it sent non-empty, even to the same value (pitfall 3).
  return endpoint.generatedMac ? { Interface: { MacAddress: endpoint.macAddress } } : {};
}

/** A logger naming the endpoint and its network. */
function endpointLog(deps: BridgeDeps, request: EndpointRequest): Logger {
  return deps.log.child({ networkId: shortId(request.NetworkID), endpointId: shortId(request.EndpointID) });
}

/** Reads the network record, or NOT_FOUND naming the call. */
export function requireNetwork(deps: BridgeDeps, call: string, networkId: string): NetworkRecord {
  const network = readNetwork(deps, networkId);
  if (network === undefined) throw new TsnetError("NOT_FOUND", `${call}: network ${shortId(networkId)} not found`);
  return network;
}

/** Reads the endpoint record, or NOT_FOUND naming the call. */
export function requireEndpoint(deps: BridgeDeps, call: string, request: EndpointRequest): EndpointRecord {
  const endpoint = deps.endpoints.get<EndpointRecord>(endpointKey(request.NetworkID, request.EndpointID));
  if (endpoint === undefined) {
    throw new TsnetError(
      "NOT_FOUND",
      `${call}: endpoint ${shortId(request.EndpointID)} not found on network ${shortId(request.NetworkID)}`,
    );
  }
  return endpoint;
}

function checkInterface(request: CreateEndpointRequest): void {
  const { Address, AddressIPv6, MacAddress } = request.Interface;
  if (Address !== "" && parseCidr(Address)?.family !== 4) {
    throw new TsnetError(
      "INVALID_ARGUMENT",
      `CreateEndpoint: Interface.Address ${JSON.stringify(Address)} is not an IPv4 CIDR`,
    );
  }
  if (AddressIPv6 !== "" && parseCidr(AddressIPv6)?.family !== 6) {
    throw new TsnetError(
      "INVALID_ARGUMENT",
      `CreateEndpoint: Interface.AddressIPv6 ${JSON.stringify(AddressIPv6)} is not an IPv6 CIDR`,
    );
  }
  if (MacAddress !== "" && !isMacAddress(MacAddress)) {
    throw new TsnetError(
      "INVALID_ARGUMENT",
      `CreateEndpoint: Interface.MacAddress ${JSON.stringify(MacAddress)} is not a MAC address`,
    );
  }
}

/** An endpoint's veth pair: the host end (on the bridge) and the container end. */
type Pair = { host: string; peer: string };

/**
 * Makes the endpoint's pair now: the host end on the bridge (hairpin on) and up, both ends at the network's MTU.
 * From the veth pool when there is one (which makes a pair on the spot when none is ready); otherwise one
 * RTM_NEWLINK makes a pair named after the EndpointID that also sets the container end's MAC.
 */
async function makePair(
  deps: BridgeDeps,
  endpointId: string,
  attachment: VethAttachment,
  macAddress: string,
  signal: AbortSignal,
): Promise<Pair> {
  if (deps.vethPool !== undefined) return deps.vethPool.take(attachment, signal);
  const links = deps.namespace.links;
  const host = hostVethName(endpointId);
  const peer = peerVethName(endpointId);
  await deps.reaper.settle(host);
  const options = { ...attachment, peerMacAddress: macAddress, up: true };
  try {
    await links.addVethPair(host, peer, options, signal);
  } catch (error) {
    if (!isTsnetError(error) || error.code !== "CONFLICT") throw error;
    // Names come from the EndpointID, so an existing link is a leftover of a crashed or interrupted call.
    deps.log.warn({ hostVeth: host, peerVeth: peer }, "replacing leftover veth");
    await links.delete(host, signal);
    await links.delete(peer, signal);
    await links.addVethPair(host, peer, options, signal);
  }
  return { host, peer };
}

/** What CreateEndpoint records and answers, once its pair exists. */
interface NewEndpoint {
  request: CreateEndpointRequest;
  macAddress: string;
  generatedMac: boolean;
}

/**
 * Records the endpoint on `pair` and returns the reply: directly when the endpoint store commits without waiting
 * (its `transactionSync`), else as a promise. On failure the pair is deleted and the error rethrown (rejected).
 */
function recordEndpoint(
  deps: BridgeDeps,
  endpoint: NewEndpoint,
  pair: Pair,
  context: CallContext,
): Awaitable<CreateEndpointResponse> {
  const { request, macAddress, generatedMac } = endpoint;
  const { Address, AddressIPv6 } = request.Interface;
  const record: EndpointRecord = {
    networkId: request.NetworkID,
    id: request.EndpointID,
    hostVeth: pair.host,
    peerVeth: pair.peer,
    address: Address,
    addressIpv6: AddressIPv6,
    macAddress,
    generatedMac,
    exposedPorts: request.Options.exposedPorts.map(({ Proto, Port }) => ({ Proto, Port })),
    bindings: null,
    published: [],
  };
  const commit = (tx: Transaction): void => {
    // A DeleteNetwork that ran meanwhile (forced; Docker refuses `network rm` with endpoints) wins. It removes
    // the network's endpoint records after its own commit, so a record written here past this check goes too.
    if (readNetwork(deps, request.NetworkID) === undefined) {
      throw new TsnetError("NOT_FOUND", `CreateEndpoint: network ${shortId(request.NetworkID)} was deleted meanwhile`);
    }
    tx.put(endpointKey(request.NetworkID, request.EndpointID), record);
  };
  const created = (): CreateEndpointResponse => {
    deps.log.debug(
      { endpointId: shortId(request.EndpointID), hostVeth: pair.host, peerVeth: pair.peer, macAddress },
      "endpoint created",
    );
    return responseOf(record);
  };
  const undo = async (error: unknown): Promise<never> => {
    await deps.namespace.links
      .delete(pair.host, cleanupSignal())
      .catch((failure: unknown) => endpointLog(deps, request).warn({ err: failure }, "undo step failed"));
    throw error;
  };
  const store = deps.endpoints;
  if (store.transactionSync === undefined) return store.transaction(commit, context.signal).then(created, undo);
  try {
    store.transactionSync(commit);
  } catch (error) {
    return undo(error);
  }
  return created();
}

/**
 * Creates the endpoint's veth pair with the network's MTU on both ends and the MAC on the container end,
 * puts the host end on the bridge and up, then records it. The MAC is Docker's (from the request) or, when
 * Docker sent none, derived from the IPv4 address as Docker's bridge does, and only then part of the reply.
 * With a ready pair in the veth pool and an endpoint store that commits without waiting, it answers directly:
 * no kernel request and no promise (see Awaitable in @tsnet/protocol). A pool pair keeps its pool names at both
 * ends (Docker renames the container end and sets its MAC where it moves it, at SetKey).
 * @throws NOT_FOUND for an unknown network; INVALID_ARGUMENT for a malformed Interface
 */
export function createEndpoint(
  deps: BridgeDeps,
  request: CreateEndpointRequest,
  context: CallContext,
): Awaitable<CreateEndpointResponse> {
  const known = deps.endpoints.get<EndpointRecord>(endpointKey(request.NetworkID, request.EndpointID));
  if (known !== undefined) return responseOf(known);
  const network = requireNetwork(deps, "CreateEndpoint", request.NetworkID);
  checkInterface(request);
  const { Address, MacAddress } = request.Interface;
  const generatedMac = MacAddress === "";
  const macAddress = generatedMac
    ? Address === ""
      ? randomMac()
      : macFromIpv4(Address.split("/")[0] as string)
    : MacAddress.toLowerCase();
  const endpoint: NewEndpoint = { request, macAddress, generatedMac };
  const attachment = vethAttachment(network);
  const ready = deps.vethPool?.takeReady(attachment);
  if (ready !== undefined) return recordEndpoint(deps, endpoint, ready, context);
  return makePair(deps, request.EndpointID, attachment, macAddress, context.signal).then((pair) =>
    recordEndpoint(deps, endpoint, pair, context),
  );
}

function plainIp(cidr: string): string {
  return cidr.split("/")[0] as string;
}

/**
 * Answers with the container end as `SrcName` and, unless the network is internal, the gateways of the
 * endpoint's subnets (on-link, so Docker can install the default route). No kernel work: the sandbox may not
 * exist yet (protocol.md §3.7), and Docker moves and configures the link itself.
 * @throws NOT_FOUND for an unknown network or endpoint
 */
export function join(deps: BridgeDeps, request: JoinRequest): JoinResponse {
  const endpoint = requireEndpoint(deps, "Join", request);
  const network = requireNetwork(deps, "Join", request.NetworkID);
  const response: JoinResponse = {
    InterfaceName: { SrcName: endpoint.peerVeth, DstPrefix: network.containerIfacePrefix },
  };
  // Docker's bridge gives internal networks no gateway, so containers there get no default route.
  if (network.internal) return response;
  const v4 = endpoint.address === "" ? undefined : subnetOf(network.ipv4, endpoint.address);
  if (v4?.gateway !== undefined) response.Gateway = plainIp(v4.gateway);
  const v6 = endpoint.addressIpv6 === "" ? undefined : subnetOf(network.ipv6, endpoint.addressIpv6);
  if (v6?.gateway !== undefined) response.GatewayIPv6 = plainIp(v6.gateway);
  return response;
}

/**
 * Forgets the endpoint and queues its veth for deletion (one end takes the other with it, wherever Docker
 * moved it), then answers at once. Unknown ids succeed and a leftover veth by the derived name is removed
 * (Docker's crash cleanup, protocol.md §5.2).
 * @throws UNAVAILABLE only when the store cannot commit; then nothing has changed
 */
export async function deleteEndpoint(deps: BridgeDeps, request: EndpointRequest, signal: AbortSignal): Promise<void> {
  const key = endpointKey(request.NetworkID, request.EndpointID);
  const endpoint = deps.endpoints.get<EndpointRecord>(key);
  if (endpoint === undefined) {
    await deps.reaper.reap(hostVethName(request.EndpointID));
    return;
  }
  const log = () => endpointLog(deps, request);
  // Should this commit fail, everything stays as it was (record and veth agree) and the error is Docker's to
  // log; removing the veth anyway would leave a record that reconcile recreates a veth for.
  await deps.endpoints.transaction((tx) => tx.delete(key), signal);
  deps.ports.release(endpoint.id);
  if (deps.firewall.getPublishes(endpoint.networkId, endpoint.id).length > 0) {
    // Only when Docker skipped Revoke (crash cleanup): the usual path has no firewall work here.
    deps.firewall.setPublishes(endpoint.networkId, endpoint.id, []);
    await deps.firewall.sync().catch((error: unknown) => log().warn({ err: error }, "firewall update failed"));
  }
  await deps.reaper.reap(endpoint.hostVeth);
  deps.log.debug({ endpointId: shortId(request.EndpointID), hostVeth: endpoint.hostVeth }, "endpoint deleted");
}

/**
 * What `docker inspect` can show of the endpoint: its MAC, its host veth, and the published ports with the
 * host ports actually chosen. Cheap: one store read. Unknown endpoints answer `{}` (Docker ignores errors here).
 */
export function endpointOperInfo(deps: BridgeDeps, request: EndpointRequest): EndpointOperInfoResponse {
  const endpoint = deps.endpoints.get<EndpointRecord>(endpointKey(request.NetworkID, request.EndpointID));
  if (endpoint === undefined) return { Value: {} };
  const value: Record<string, unknown> = {
    [MAC_ADDRESS_LABEL]: endpoint.macAddress,
    "tsnet.bridge.host_veth": endpoint.hostVeth,
  };
  if (endpoint.exposedPorts.length > 0) value[EXPOSED_PORTS_LABEL] = endpoint.exposedPorts;
  if (endpoint.published.length > 0) {
    const ip = endpoint.address === "" ? "" : plainIp(endpoint.address);
    const protos = { tcp: 6, udp: 17, sctp: 132 } as const;
    value[PORT_MAP_LABEL] = endpoint.published.map((port) => ({
      Proto: protos[port.proto],
      IP: ip,
      Port: port.containerPort,
      HostIP: port.hostIp,
      HostPort: port.hostPort,
      HostPortEnd: port.hostPort,
    }));
  }
  return { Value: value };
}

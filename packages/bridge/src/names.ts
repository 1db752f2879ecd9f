import { createHash } from "node:crypto";

/** Prefix of bridges tsnet names itself (`tsbr-` + 10 hex of the NetworkID). */
export const BRIDGE_PREFIX = "tsbr-";
/** Prefix of the host end of an endpoint's veth pair (`tsve-` + 10 hex of the EndpointID). */
export const HOST_VETH_PREFIX = "tsve-";
/** Prefix of the container end before Docker moves it into the sandbox (`tsvp-` + 10 hex of the EndpointID). */
export const PEER_VETH_PREFIX = "tsvp-";

/** Prefix of a host end made by the driver's veth pool (ready, or taken by an endpoint: it keeps its name). */
export const POOL_VETH_PREFIX = "tsvq-";

/** Every link prefix the bridge driver owns: reconcile removes links with these names that no record names. */
export const LINK_PREFIXES: readonly string[] = [BRIDGE_PREFIX, HOST_VETH_PREFIX, PEER_VETH_PREFIX, POOL_VETH_PREFIX];

/**
 * Ten lowercase hex characters that identify `id`: its own first ten when it is hex (Docker's 64-hex IDs),
 * otherwise the first ten of its SHA-256, so library callers with other IDs still get valid, stable names.
 */
function shortHex(id: string): string {
  if (/^[0-9a-fA-F]{10}/.test(id)) return id.slice(0, 10).toLowerCase();
  return createHash("sha256").update(id).digest("hex").slice(0, 10);
}

/** The generated bridge name of a network: `tsbr-` + 10 hex (15 characters, IFNAMSIZ). */
export function bridgeName(networkId: string): string {
  return BRIDGE_PREFIX + shortHex(networkId);
}

/** The host end of an endpoint's veth pair: `tsve-` + 10 hex of the EndpointID. */
export function hostVethName(endpointId: string): string {
  return HOST_VETH_PREFIX + shortHex(endpointId);
}

/** The container end (Join's `SrcName`): `tsvp-` + 10 hex of the EndpointID, unique per endpoint (pitfall 17). */
export function peerVethName(endpointId: string): string {
  return PEER_VETH_PREFIX + shortHex(endpointId);
}

/** Whether a link name carries one of the bridge driver's prefixes. */
export function isOwnLinkName(name: string): boolean {
  return LINK_PREFIXES.some((prefix) => name.startsWith(prefix));
}

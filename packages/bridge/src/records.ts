/**
 * What the bridge driver keeps in the shared Store, and under which keys:
 *
 *   bridge/networks/<NetworkID>                → NetworkRecord
 *   bridge/endpoints/<NetworkID>/<EndpointID>  → EndpointRecord
 *
 * Endpoints sit under their network so that DeleteNetwork and reconcile list them with one prefix scan.
 * A record is written only after the kernel objects it names exist, and deleted before they are removed,
 * so the store never names what the kernel lacks; leftovers carry a tsnet prefix and reconcile removes them.
 */
import type { Logger } from "@tsnet/protocol";
import type { NetworkConfig } from "./options.js";
import type { PublishedPort } from "./ports.js";

export const NETWORK_PREFIX = "bridge/networks/";
export const ENDPOINT_PREFIX = "bridge/endpoints/";

export function networkKey(networkId: string): string {
  return NETWORK_PREFIX + networkId;
}

export function endpointPrefix(networkId: string): string {
  return `${ENDPOINT_PREFIX}${networkId}/`;
}

export function endpointKey(networkId: string, endpointId: string): string {
  return endpointPrefix(networkId) + endpointId;
}

/** A network as stored: its configuration plus what the driver did to the host. */
export type NetworkRecord = NetworkConfig & {
  id: string;
  /** False when the bridge existed before (a user-named bridge): it is adopted, and left in place on delete. */
  ownsBridge: boolean;
  /** Gateway addresses the driver added to an adopted bridge, removed again on delete. */
  addedAddresses: string[];
};

/** `com.docker.network.portmap` entry, as stored. */
export type StoredPortBinding = {
  Proto: 6 | 17 | 132;
  IP: string;
  Port: number;
  HostIP: string;
  HostPort: number;
  HostPortEnd: number;
};

/** `com.docker.network.endpoint.exposedports` entry, as stored. */
export type StoredTransportPort = { Proto: 6 | 17 | 132; Port: number };

/** An endpoint as stored. */
export type EndpointRecord = {
  networkId: string;
  id: string;
  hostVeth: string;
  peerVeth: string;
  /** CIDR or "" (as Docker sent it). */
  address: string;
  addressIpv6: string;
  macAddress: string;
  /** Whether the driver chose the MAC, so a replayed CreateEndpoint answers with it again. */
  generatedMac: boolean;
  exposedPorts: StoredTransportPort[];
  /** The port bindings of the last ProgramExternalConnectivity, or null when not programmed. */
  bindings: StoredPortBinding[] | null;
  /** Host ports chosen for `bindings`. */
  published: PublishedPort[];
};

/** Short id for logs and messages: Docker's 12-character form. */
export function shortId(id: string): string {
  return id.slice(0, 12);
}

/** Undo steps of one multi-step call, run in reverse; a failing step is logged, never thrown. */
export class Undo {
  readonly #steps: Array<() => unknown> = [];

  push(step: () => unknown): void {
    this.#steps.push(step);
  }

  async run(log: Logger): Promise<void> {
    for (const step of this.#steps.reverse()) {
      try {
        await step();
      } catch (error) {
        log.warn({ err: error }, "undo step failed");
      }
    }
    this.#steps.length = 0;
  }
}

/** A fresh deadline for cleanup work, which must run even when the call's own signal has fired. */
export function cleanupSignal(): AbortSignal {
  return AbortSignal.timeout(10_000);
}

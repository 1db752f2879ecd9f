import type { PortBinding } from "@tsnet/protocol";

/** One published port of one endpoint, after the driver picked host ports for `-P`. */
export interface PortPublish {
  proto: "tcp" | "udp" | "sctp";
  /** Host address to bind, "" for all. */
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
}

/** Everything the firewall needs to know about one network. */
export interface FirewallNetwork {
  /** Our network id (Docker's NetworkID), for rule comments. */
  id: string;
  bridge: string;
  /** CIDRs of the network, v4 and v6. */
  subnets: string[];
  /** `--internal`: no traffic in or out of the bridge but between its own members. */
  internal: boolean;
  /** `enable_ip_masquerade`: NAT traffic leaving the host. */
  masquerade: boolean;
  /** `enable_icc`: containers on the bridge may talk to each other. */
  icc: boolean;
  publishes: PortPublish[];
}

/**
 * The host firewall as one desired state. `apply` replaces tsnet's whole ruleset atomically (one `nft -f -`)
 * and makes sure Docker's own FORWARD chain lets our bridges through (DOCKER-USER). Applying the same state
 * twice is a no-op; a failed apply leaves the previous ruleset in place.
 */
export interface Firewall {
  apply(networks: readonly FirewallNetwork[], signal?: AbortSignal): Promise<void>;
  /** Removes every tsnet rule. */
  flush(signal?: AbortSignal): Promise<void>;
}

export type { PortBinding };

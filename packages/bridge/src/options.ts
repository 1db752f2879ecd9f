/**
 * CreateNetwork options → the bridge network's configuration, with the keys and semantics of Docker's own
 * bridge driver (libnetwork drivers/bridge). Every bad value is INVALID_ARGUMENT naming the option.
 */
import type { CreateNetworkRequest, IpamData, Logger } from "@tsnet/protocol";
import {
  BRIDGE_ENABLE_ICC_OPTION,
  BRIDGE_ENABLE_IP_MASQUERADE_OPTION,
  BRIDGE_HOST_BINDING_IPV4_OPTION,
  BRIDGE_NAME_OPTION,
  CONTAINER_IFACE_PREFIX_OPTION,
  isInterfaceName,
  MTU_OPTION,
  readBoolean,
  readInterfaceName,
  readIpv4,
  readMtu,
  TsnetError,
} from "@tsnet/protocol";
import { cidrContains, type ParsedCidr, parseCidr, parseIp } from "./ip.js";
import { bridgeName } from "./names.js";

const BRIDGE_OPTION_PREFIX = "com.docker.network.bridge.";

/** IPv6 needs at least 1280 (RFC 8200); below it the kernel disables IPv6 on the link. */
export const MIN_IPV6_MTU = 1280;

/** One subnet of the network: the pool and the gateway (CIDR, host bits kept), as IPAM gave them. */
export type Subnet = { pool: string; gateway?: string };

/** A network's configuration as stored: every field is plain JSON. */
export type NetworkConfig = {
  bridge: string;
  /** Whether the user named the bridge (`com.docker.network.bridge.name`). */
  namedByUser: boolean;
  mtu: number;
  icc: boolean;
  masquerade: boolean;
  internal: boolean;
  enableIpv6: boolean;
  /** Default host address of published ports when a binding names none; "" = every address of both families. */
  hostBindingIpv4: string;
  /** Join's DstPrefix: `eth` unless `com.docker.network.container_iface_prefix` says otherwise. */
  containerIfacePrefix: string;
  ipv4: Subnet[];
  ipv6: Subnet[];
};

function reject(key: string, value: string, expected: string): never {
  throw new TsnetError("INVALID_ARGUMENT", `option ${key} ${JSON.stringify(value)} ${expected}`);
}

function readContainerPrefix(options: Record<string, string>): string {
  const value = options[CONTAINER_IFACE_PREFIX_OPTION];
  if (value === undefined || value === "") return "eth";
  // Docker appends an index (eth0, eth1, ...), so leave room for up to three digits.
  if (!isInterfaceName(value) || new TextEncoder().encode(value).length > 12 || /[0-9]$/.test(value)) {
    reject(CONTAINER_IFACE_PREFIX_OPTION, value, "is not an interface name prefix (1-12 bytes, not ending in a digit)");
  }
  return value;
}

function readSubnets(data: readonly IpamData[], family: 4 | 6, field: string): Subnet[] {
  return data.map((entry, index) => {
    const pool = parseCidr(entry.Pool);
    if (pool?.family !== family) {
      throw new TsnetError(
        "INVALID_ARGUMENT",
        `${field}[${index}].Pool ${JSON.stringify(entry.Pool)} is not an IPv${family} CIDR`,
      );
    }
    if (entry.Gateway === undefined || entry.Gateway === "") return { pool: entry.Pool };
    const gateway = parseCidr(entry.Gateway);
    if (gateway?.family !== family || !cidrContains(pool, gateway)) {
      throw new TsnetError(
        "INVALID_ARGUMENT",
        `${field}[${index}].Gateway ${JSON.stringify(entry.Gateway)} is not an IPv${family} CIDR inside ${entry.Pool}`,
      );
    }
    // The bridge address takes the pool's prefix so the kernel installs the connected route for the subnet.
    return { pool: entry.Pool, gateway: `${gateway.address}/${pool.prefix}` };
  });
}

/**
 * Builds a network's configuration from CreateNetwork, as Docker's bridge driver reads its options.
 * Unknown `com.docker.network.bridge.*` keys are ignored (Docker's bridge ignores unknown options) and logged.
 * @throws INVALID_ARGUMENT naming the option or field and its value
 */
export function parseNetworkConfig(request: CreateNetworkRequest, defaultMtu: number, log: Logger): NetworkConfig {
  const generic = request.Options.generic;
  const named = readInterfaceName(generic, BRIDGE_NAME_OPTION);
  const mtu = readMtu(generic) ?? defaultMtu;
  const icc = readBoolean(generic, BRIDGE_ENABLE_ICC_OPTION) ?? true;
  const masquerade = readBoolean(generic, BRIDGE_ENABLE_IP_MASQUERADE_OPTION) ?? true;
  const hostBindingIpv4 = readIpv4(generic, BRIDGE_HOST_BINDING_IPV4_OPTION) ?? "";
  const containerIfacePrefix = readContainerPrefix(generic);
  const enableIpv6 = request.Options.enableIpv6 || request.IPv6Data.length > 0;
  if (enableIpv6 && mtu < MIN_IPV6_MTU) {
    reject(MTU_OPTION, String(mtu), `is below ${MIN_IPV6_MTU}, the smallest MTU IPv6 works with (--ipv6 is set)`);
  }
  const known = new Set([
    BRIDGE_NAME_OPTION,
    BRIDGE_ENABLE_ICC_OPTION,
    BRIDGE_ENABLE_IP_MASQUERADE_OPTION,
    BRIDGE_HOST_BINDING_IPV4_OPTION,
  ]);
  const ignored = Object.keys(generic).filter((key) => key.startsWith(BRIDGE_OPTION_PREFIX) && !known.has(key));
  if (ignored.length > 0) log.warn({ options: ignored }, "ignoring unsupported bridge options");
  return {
    bridge: named ?? bridgeName(request.NetworkID),
    namedByUser: named !== undefined,
    mtu,
    icc,
    masquerade,
    internal: request.Options.internal,
    enableIpv6,
    hostBindingIpv4,
    containerIfacePrefix,
    ipv4: readSubnets(request.IPv4Data, 4, "IPv4Data"),
    ipv6: readSubnets(request.IPv6Data, 6, "IPv6Data"),
  };
}

/** The subnet of `subnets` whose pool holds `address` (plain IP or CIDR), if any. */
export function subnetOf(subnets: readonly Subnet[], address: string): Subnet | undefined {
  const ip = parseIp(address.split("/")[0] ?? "");
  if (ip === undefined) return undefined;
  return subnets.find((subnet) => cidrContains(parseCidr(subnet.pool) as ParsedCidr, ip));
}

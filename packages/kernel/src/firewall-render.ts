import { TsnetError } from "@tsnet/protocol";
import ipaddr from "ipaddr.js";
import type { FirewallNetwork, PortPublish } from "./firewall.js";

/** Names of what the firewall owns; tests use their own so they never touch a running daemon's rules. */
export interface FirewallNames {
  /** Our nftables tables: `inet NAME`, `ip NAME-nat`, `ip6 NAME-nat` (default "tsnet"). */
  table: string;
  /** Our chain in Docker's `filter` table, jumped to from DOCKER-USER (default "TSNET-FORWARD"). */
  chain: string;
  /** Comment on every rule we put in Docker's tables, so we find exactly ours (default "tsnet"). */
  comment: string;
}

export const DEFAULT_FIREWALL_NAMES: FirewallNames = { table: "tsnet", chain: "TSNET-FORWARD", comment: "tsnet" };

/** Our nftables tables ("inet tsnet", "ip tsnet-nat", "ip6 tsnet-nat"), each replaced whole on every change. */
export function tsnetTables(names: FirewallNames = DEFAULT_FIREWALL_NAMES): string[] {
  return [`inet ${names.table}`, `ip ${names.table}-nat`, `ip6 ${names.table}-nat`];
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

function checkBridge(network: FirewallNetwork): string {
  if (!IFNAME.test(network.bridge)) {
    throw new TsnetError(
      "INVALID_ARGUMENT",
      `network ${network.id.slice(0, 12)}: bridge name "${network.bridge}" is not a valid interface name`,
    );
  }
  return `"${network.bridge}"`;
}

interface Subnet {
  family: 4 | 6;
  text: string;
}

function subnetsOf(network: FirewallNetwork): Subnet[] {
  return network.subnets.map((cidr) => {
    try {
      const [address, prefix] = ipaddr.parseCIDR(cidr);
      const family = address.kind() === "ipv4" ? 4 : 6;
      const base = family === 4 ? ipaddr.IPv4.networkAddressFromCIDR(cidr) : ipaddr.IPv6.networkAddressFromCIDR(cidr);
      return { family, text: `${base.toString()}/${prefix}` };
    } catch (error) {
      throw new TsnetError("INVALID_ARGUMENT", `network ${network.id.slice(0, 12)}: subnet "${cidr}" is not a CIDR`, {
        cause: error,
      });
    }
  });
}

interface Publish {
  family: 4 | 6;
  proto: "tcp" | "udp" | "sctp";
  /** Normalised host address, undefined for "any". */
  hostIp: string | undefined;
  hostPort: number;
  containerIp: string;
  containerPort: number;
}

function checkPort(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw new TsnetError("INVALID_ARGUMENT", `published port: ${what} ${value} must be 1-65535`);
  }
  return value;
}

function publishOf(publish: PortPublish): Publish {
  if (publish.proto !== "tcp" && publish.proto !== "udp" && publish.proto !== "sctp") {
    throw new TsnetError(
      "INVALID_ARGUMENT",
      `published port: protocol "${String(publish.proto)}" must be tcp, udp or sctp`,
    );
  }
  let container: ipaddr.IPv4 | ipaddr.IPv6;
  let host: ipaddr.IPv4 | ipaddr.IPv6 | undefined;
  try {
    container = ipaddr.parse(publish.containerIp);
    host = publish.hostIp === "" ? undefined : ipaddr.parse(publish.hostIp);
  } catch (error) {
    throw new TsnetError(
      "INVALID_ARGUMENT",
      `published port: "${publish.hostIp}" / "${publish.containerIp}" must be IP addresses`,
      { cause: error },
    );
  }
  const family = container.kind() === "ipv4" ? 4 : 6;
  if (host !== undefined && host.kind() !== container.kind()) {
    throw new TsnetError(
      "INVALID_ARGUMENT",
      `published port: host IP ${publish.hostIp} and container IP ${publish.containerIp} are of different families`,
    );
  }
  const isAny = host === undefined || host.toNormalizedString() === (family === 4 ? "0.0.0.0" : "0:0:0:0:0:0:0:0");
  return {
    family,
    proto: publish.proto,
    hostIp: isAny ? undefined : host?.toString(),
    hostPort: checkPort(publish.hostPort, "host port"),
    containerIp: container.toString(),
    containerPort: checkPort(publish.containerPort, "container port"),
  };
}

function sorted(networks: readonly FirewallNetwork[]): FirewallNetwork[] {
  return [...networks].sort((a, b) => (a.bridge < b.bridge ? -1 : a.bridge > b.bridge ? 1 : 0));
}

/**
 * Renders the whole tsnet ruleset as one `nft -f` script: each of our tables is declared, deleted and written
 * anew in the same transaction, so the change is atomic and a bad script changes nothing. Pure: the same
 * networks (in any order) give the same text. Throws INVALID_ARGUMENT on a bad name, CIDR, IP or port.
 *
 * - `inet tsnet` forward (priority filter - 1, before Docker's): isolation between tsnet bridges and between a
 *   tsnet bridge and Docker's own (docker0, br-*), `--internal` (only members of the subnet in and out),
 *   `enable_icc=false` (bridge to same bridge, seen here through br_netfilter). DNATed flows (published ports)
 *   are accepted first, so a published port is reachable from any bridge, as with Docker's port mapping.
 * - `ip tsnet-nat` / `ip6 tsnet-nat`: masquerade of each non-internal network's subnets leaving through another
 *   interface; DNAT of published ports in prerouting and output (the host itself, localhost too: no proxy, so
 *   the bridge gets route_localnet=1 and locally sourced traffic into the bridge is masqueraded); hairpin
 *   masquerade of a container reaching itself through its published port.
 */
export function renderRuleset(
  networks: readonly FirewallNetwork[],
  names: FirewallNames = DEFAULT_FIREWALL_NAMES,
): string {
  const lines: string[] = [];
  for (const table of tsnetTables(names)) lines.push(`table ${table}`, `delete table ${table}`);
  if (networks.length === 0) return `${lines.join("\n")}\n`;
  const all = sorted(networks).map((network) => ({
    network,
    bridge: checkBridge(network),
    subnets: subnetsOf(network),
    publishes: network.internal ? [] : network.publishes.map(publishOf),
  }));

  lines.push(
    `table inet ${names.table} {`,
    "  set bridges {",
    "    type ifname",
    `    elements = { ${all.map((n) => n.bridge).join(", ")} }`,
    "  }",
  );
  lines.push(
    "  chain forward {",
    "    type filter hook forward priority filter - 1; policy accept;",
    "    ct status dnat accept",
  );
  for (const { network, bridge } of all) {
    lines.push(`    # network ${network.id}`);
    lines.push(`    iifname ${bridge} oifname != ${bridge} oifname @bridges drop`);
    for (const docker of ['"docker0"', '"br-*"']) {
      lines.push(`    iifname ${bridge} oifname != ${bridge} oifname ${docker} drop`);
      lines.push(`    oifname ${bridge} iifname != ${bridge} iifname ${docker} drop`);
    }
    if (network.internal) {
      // `--internal`: nothing leaves the bridge for another interface and nothing enters it from one.
      lines.push(`    iifname ${bridge} oifname != ${bridge} drop`, `    oifname ${bridge} iifname != ${bridge} drop`);
    }
    if (!network.icc) lines.push(`    iifname ${bridge} oifname ${bridge} drop`);
  }
  lines.push("  }", "}");

  for (const family of [4, 6] as const) {
    const ip = family === 4 ? "ip" : "ip6";
    lines.push(`table ${ip} ${names.table}-nat {`);
    lines.push(
      "  chain prerouting {",
      "    type nat hook prerouting priority dstnat; policy accept;",
      "    fib daddr type local jump publish",
      "  }",
    );
    lines.push(
      "  chain output {",
      "    type nat hook output priority -100; policy accept;",
      "    fib daddr type local jump publish",
      "  }",
    );
    lines.push("  chain publish {");
    for (const { publishes } of all) {
      for (const p of publishes.filter((q) => q.family === family)) {
        const host = p.hostIp === undefined ? "" : `${ip} daddr ${p.hostIp} `;
        const target = family === 4 ? `${p.containerIp}:${p.containerPort}` : `[${p.containerIp}]:${p.containerPort}`;
        lines.push(`    ${host}${p.proto} dport ${p.hostPort} dnat to ${target}`);
      }
    }
    lines.push("  }");
    lines.push("  chain postrouting {", "    type nat hook postrouting priority srcnat; policy accept;");
    for (const { network, bridge, subnets, publishes } of all) {
      const mine = publishes.filter((q) => q.family === family);
      if (mine.length > 0) lines.push(`    oifname ${bridge} fib saddr type local masquerade`);
      for (const p of mine) {
        lines.push(
          `    ${ip} saddr ${p.containerIp} ${ip} daddr ${p.containerIp} ${p.proto} dport ${p.containerPort} masquerade`,
        );
      }
      if (network.internal || !network.masquerade) continue;
      for (const subnet of subnets.filter((s) => s.family === family)) {
        lines.push(`    ${ip} saddr ${subnet.text} oifname != ${bridge} masquerade`);
      }
    }
    lines.push("  }", "}");
  }
  return `${lines.join("\n")}\n`;
}

/**
 * The rules of our chain in Docker's `filter` table (iptables syntax, one per line, without `-A CHAIN`), for
 * one family. Docker's FORWARD policy is DROP and an accept in another table does not override it, so these
 * accepts must sit where Docker's chain sees them: DOCKER-USER jumps to this chain. Drops stay in our own table.
 */
export function renderDockerUserRules(
  networks: readonly FirewallNetwork[],
  family: 4 | 6,
  names: FirewallNames = DEFAULT_FIREWALL_NAMES,
): string[] {
  const rules: string[] = [];
  const comment = `-m comment --comment ${names.comment}`;
  for (const network of sorted(networks)) {
    checkBridge(network);
    const hasFamily = subnetsOf(network).some((s) => s.family === family);
    if (!hasFamily) continue;
    const b = network.bridge;
    rules.push(`-o ${b} -m conntrack --ctstate RELATED,ESTABLISHED ${comment} -j ACCEPT`);
    if (network.icc) rules.push(`-i ${b} -o ${b} ${comment} -j ACCEPT`);
    if (network.internal) continue;
    rules.push(`-i ${b} ! -o ${b} ${comment} -j ACCEPT`);
    for (const p of network.publishes.map(publishOf).filter((q) => q.family === family)) {
      rules.push(
        `-d ${p.containerIp}/${family === 4 ? 32 : 128} -o ${b} -p ${p.proto} -m ${p.proto} --dport ${p.containerPort} ${comment} -j ACCEPT`,
      );
    }
  }
  return [...new Set(rules)];
}

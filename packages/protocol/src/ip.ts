/**
 * Strict, dependency-free IP address and CIDR parsing, shared by the request parsers, IPAM and the bridge driver.
 * Accepts what Go's `net.ParseIP` / `net.ParseCIDR` accept for the forms Docker sends (dotted quad without leading
 * zeros; IPv6 with `::` compression and an embedded dotted quad), and nothing else: no zones, no shorthand.
 */

/** 4 for IPv4, 6 for IPv6. */
export type IpFamily = 4 | 6;

/** An address as a number: `value` is the 32- or 128-bit address. */
export interface Ip {
  family: IpFamily;
  value: bigint;
}

/** A CIDR as written: `value` keeps the host bits (Docker's gateways do: `10.0.0.1/24`). */
export interface Cidr {
  family: IpFamily;
  value: bigint;
  prefix: number;
}

/** Number of bits in an address of this family: 32 or 128. */
export function addressBits(family: IpFamily): 32 | 128 {
  return family === 4 ? 32 : 128;
}

function parseDecimalOctet(text: string): number | undefined {
  if (text.length === 0 || text.length > 3) return undefined;
  if (text.length > 1 && text.charCodeAt(0) === 48) return undefined; // leading zero: Go rejects it (octal ambiguity)
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return undefined;
    value = value * 10 + digit;
  }
  return value <= 255 ? value : undefined;
}

/** Parses a dotted quad (`10.0.0.1`) into its 32-bit value, or undefined. */
export function parseIpv4(text: string): Ip | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    const octet = parseDecimalOctet(part);
    if (octet === undefined) return undefined;
    value = value * 256 + octet;
  }
  return { family: 4, value: BigInt(value) };
}

function parseHexGroup(text: string): number | undefined {
  if (text.length === 0 || text.length > 4) return undefined;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let digit: number;
    if (c >= 48 && c <= 57) digit = c - 48;
    else if (c >= 97 && c <= 102) digit = c - 87;
    else if (c >= 65 && c <= 70) digit = c - 55;
    else return undefined;
    value = value * 16 + digit;
  }
  return value;
}

/** Parses the groups on one side of `::`; the last group may be a dotted quad when `allowV4Tail`. */
function parseGroups(text: string, allowV4Tail: boolean): number[] | undefined {
  if (text === "") return [];
  const parts = text.split(":");
  const groups: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (allowV4Tail && i === parts.length - 1 && part.includes(".")) {
      const v4 = parseIpv4(part);
      if (v4 === undefined) return undefined;
      const n = Number(v4.value);
      groups.push(Math.floor(n / 65536), n % 65536);
    } else {
      const group = parseHexGroup(part);
      if (group === undefined) return undefined;
      groups.push(group);
    }
  }
  return groups;
}

/** Parses an IPv6 address (`fd00::1`, `::ffff:10.0.0.1`) into its 128-bit value, or undefined. Zones are refused. */
export function parseIpv6(text: string): Ip | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  const gap = text.indexOf("::");
  let groups: number[];
  if (gap < 0) {
    const all = parseGroups(text, true);
    if (all === undefined || all.length !== 8) return undefined;
    groups = all;
  } else {
    if (text.indexOf("::", gap + 1) >= 0) return undefined;
    const head = parseGroups(text.slice(0, gap), false);
    const tail = parseGroups(text.slice(gap + 2), true);
    if (head === undefined || tail === undefined) return undefined;
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return undefined; // "::" stands for at least one group
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  }
  let value = 0n;
  for (const group of groups) value = (value << 16n) | BigInt(group);
  return { family: 6, value };
}

/** Parses an IPv4 or IPv6 address (no prefix), or returns undefined. */
export function parseIp(text: string): Ip | undefined {
  return text.includes(":") ? parseIpv6(text) : parseIpv4(text);
}

/** Parses `address/prefix` (prefix 0-32 or 0-128, decimal, no leading zeros), or returns undefined. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const ip = parseIp(text.slice(0, slash));
  if (ip === undefined) return undefined;
  const prefixText = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > addressBits(ip.family)) return undefined;
  return { family: ip.family, value: ip.value, prefix };
}

/** The network part of a CIDR: host bits cleared (`10.0.0.1/24` → `10.0.0.0/24`). */
export function networkOf(cidr: Cidr): Cidr {
  const hostBits = BigInt(addressBits(cidr.family) - cidr.prefix);
  return { family: cidr.family, value: (cidr.value >> hostBits) << hostBits, prefix: cidr.prefix };
}

/** Whether `ip` lies inside `cidr` (same family, same network bits). */
export function cidrContains(cidr: Cidr, ip: Ip): boolean {
  if (cidr.family !== ip.family) return false;
  const hostBits = BigInt(addressBits(cidr.family) - cidr.prefix);
  return cidr.value >> hostBits === ip.value >> hostBits;
}

/** Formats an address canonically: dotted quad, or RFC 5952 IPv6 (lowercase, longest zero run compressed). */
export function formatIp(ip: Ip): string {
  if (ip.family === 4) {
    const n = Number(ip.value);
    return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((ip.value >> shift) & 0xffffn));
  let bestStart = -1;
  let bestLength = 1; // RFC 5952: a single zero group is not compressed
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

/** Formats a CIDR as `formatIp(value)/prefix`. */
export function formatCidr(cidr: Cidr): string {
  return `${formatIp(cidr)}/${cidr.prefix}`;
}

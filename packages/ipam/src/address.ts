import { formatIp, parseIpv6 } from "@tsnet/protocol";

/** IP version. */
export type Family = 4 | 6;

/** A network (CIDR with host bits cleared) as numbers: `base` is the network address. */
export interface Network {
  readonly family: Family;
  readonly base: bigint;
  readonly prefix: number;
  /** 32 or 128. */
  readonly bits: number;
  /** Number of addresses: 2^(bits - prefix). */
  readonly size: bigint;
}

/** An address as a family and a value (a bigint for both families, so one code path compares them). */
export interface Address {
  readonly family: Family;
  readonly value: bigint;
}

const DECIMAL_OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** Strict dotted-quad IPv4 to a uint32, or -1. Hand-written: it runs once per stored address on load. */
export function parseIpv4Number(text: string): number {
  let value = 0;
  let parts = 0;
  let start = 0;
  for (let i = 0; i <= text.length; i++) {
    if (i === text.length || text.charCodeAt(i) === 46) {
      const part = text.slice(start, i);
      if (!DECIMAL_OCTET.test(part)) return -1;
      value = value * 256 + Number(part);
      parts++;
      start = i + 1;
    }
  }
  return parts === 4 ? value : -1;
}

/** Parses a plain IPv4 (dotted quad only) or IPv6 address (no zone), or returns undefined. */
export function parseAddress(text: string): Address | undefined {
  if (typeof text !== "string") return undefined;
  if (!text.includes(":")) {
    const value = parseIpv4Number(text);
    return value < 0 ? undefined : { family: 4, value: BigInt(value) };
  }
  // The same strict parser that validates Docker's requests (no zones, no shorthand), so both accept one language.
  return parseIpv6(text);
}

/**
 * Parses `address/prefix` into its network, clearing host bits as Go's `net.ParseCIDR` (and so Docker's default
 * IPAM) does; undefined when malformed.
 */
export function parseNetwork(text: string): Network | undefined {
  if (typeof text !== "string") return undefined;
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const address = parseAddress(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (address === undefined || !/^(0|[1-9]\d{0,2})$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  const bits = address.family === 4 ? 32 : 128;
  if (prefix > bits) return undefined;
  const hostBits = BigInt(bits - prefix);
  const base = (address.value >> hostBits) << hostBits;
  return { family: address.family, base, prefix, bits, size: 1n << hostBits };
}

/** Dotted quad of a uint32 (the allocation hot path formats IPv4 without bigints). */
export function formatIpv4Number(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/** RFC 5952 text of an IPv6 address (protocol's formatter, on the bare 128-bit value the pools work with). */
export function formatIpv6(value: bigint): string {
  return formatIp({ family: 6, value });
}

/** Text of an address. */
export function formatAddress(family: Family, value: bigint): string {
  return family === 4 ? formatIpv4Number(Number(value)) : formatIpv6(value);
}

/** `base/prefix` text of a network. */
export function formatNetwork(network: Network): string {
  return `${formatAddress(network.family, network.base)}/${network.prefix}`;
}

/** True when the two networks share at least one address (same family only). */
export function overlaps(a: Network, b: Network): boolean {
  return a.family === b.family && a.base < b.base + b.size && b.base < a.base + a.size;
}

/** True when `inner` lies entirely inside `outer`. */
export function containsNetwork(outer: Network, inner: Network): boolean {
  return (
    outer.family === inner.family && inner.base >= outer.base && inner.base + inner.size <= outer.base + outer.size
  );
}

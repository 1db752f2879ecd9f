/** Address helpers over @tsnet/protocol's strict (Go-compatible) IP parsing, with canonical text forms. */
import {
  cidrContains as contains,
  formatIp,
  parseCidr as parseCidrValue,
  parseIp as parseIpValue,
} from "@tsnet/protocol";

/** A parsed address: `family` 4 or 6 and the address in canonical text form. */
export interface ParsedIp {
  family: 4 | 6;
  address: string;
}

/** A parsed CIDR that keeps its host bits (Docker's gateways do: `10.0.0.1/24`). */
export interface ParsedCidr extends ParsedIp {
  prefix: number;
}

/** Parses a plain IP strictly (dotted quad for IPv4, no zones), or undefined. */
export function parseIp(text: string): ParsedIp | undefined {
  const ip = parseIpValue(text);
  return ip === undefined ? undefined : { family: ip.family, address: formatIp(ip) };
}

/** Parses `address/prefix`, or undefined. */
export function parseCidr(text: string): ParsedCidr | undefined {
  const cidr = parseCidrValue(text);
  return cidr === undefined ? undefined : { family: cidr.family, address: formatIp(cidr), prefix: cidr.prefix };
}

/** Whether `ip` (plain) lies inside `cidr`; false for mismatched families. */
export function cidrContains(cidr: ParsedCidr, ip: ParsedIp): boolean {
  const network = parseCidrValue(`${cidr.address}/${cidr.prefix}`);
  const address = parseIpValue(ip.address);
  return network !== undefined && address !== undefined && contains(network, address);
}

/** The four bytes of an IPv4 address (dotted quad). */
export function ipv4Bytes(address: string): number[] {
  const value = Number(parseIpValue(address)?.value ?? 0n);
  return [(value >>> 24) & 255, (value >>> 16) & 255, (value >>> 8) & 255, value & 255];
}

import ipaddr from "ipaddr.js";

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
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return { family: 4, address: ipaddr.IPv4.parse(text).toString() };
  if (text.includes(":") && !text.includes("%") && ipaddr.IPv6.isValid(text)) {
    return { family: 6, address: ipaddr.IPv6.parse(text).toString() };
  }
  return undefined;
}

/** Parses `address/prefix`, or undefined. */
export function parseCidr(text: string): ParsedCidr | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const ip = parseIp(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (ip === undefined || !/^[0-9]{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > (ip.family === 4 ? 32 : 128)) return undefined;
  return { ...ip, prefix };
}

/** Whether `ip` (plain) lies inside `cidr`; false for mismatched families. */
export function cidrContains(cidr: ParsedCidr, ip: ParsedIp): boolean {
  if (cidr.family !== ip.family) return false;
  const network = ipaddr.parse(cidr.address);
  return ipaddr.parse(ip.address).match(network, cidr.prefix);
}

/** The four bytes of an IPv4 address. */
export function ipv4Bytes(address: string): number[] {
  return ipaddr.IPv4.parse(address).toByteArray();
}

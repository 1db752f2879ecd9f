import { randomBytes } from "node:crypto";
import { ipv4Bytes } from "./ip.js";

const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/** Whether `text` is a colon-separated 48-bit MAC (`aa:bb:cc:dd:ee:ff`). */
export function isMacAddress(text: string): boolean {
  return MAC.test(text);
}

function format(bytes: readonly number[]): string {
  return bytes.map((byte) => byte.toString(16).padStart(2, "0")).join(":");
}

/**
 * Docker's bridge MAC for an IPv4 address (libnetwork netutils.GenerateMACFromIP): `02:42:` followed by the
 * four address bytes, e.g. 172.17.0.2 → 02:42:ac:11:00:02. Locally administered and unicast.
 */
export function macFromIpv4(address: string): string {
  return format([0x02, 0x42, ...ipv4Bytes(address)]);
}

/** A random locally administered unicast MAC, for endpoints without an IPv4 address. */
export function randomMac(): string {
  const bytes = [...randomBytes(6)];
  bytes[0] = ((bytes[0] ?? 0) & 0xfe) | 0x02;
  return format(bytes);
}

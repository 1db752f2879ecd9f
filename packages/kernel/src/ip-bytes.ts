import { TsnetError } from "@tsnet/protocol";
import ipaddr from "ipaddr.js";

/** An address or CIDR as the kernel wants it: family, raw bytes, prefix length. */
export interface IpBytes {
  family: 4 | 6;
  bytes: Buffer;
  prefix: number;
}

/** Parses "10.0.0.2/24", "fd00::2/64" or a bare address (prefix 32/128). Throws INVALID_ARGUMENT. */
export function parseIpBytes(text: string, what: string): IpBytes {
  try {
    if (text.includes("/")) {
      const [address, prefix] = ipaddr.parseCIDR(text);
      return { family: address.kind() === "ipv4" ? 4 : 6, bytes: Buffer.from(address.toByteArray()), prefix };
    }
    const address = ipaddr.parse(text);
    const family = address.kind() === "ipv4" ? 4 : 6;
    return { family, bytes: Buffer.from(address.toByteArray()), prefix: family === 4 ? 32 : 128 };
  } catch (error) {
    throw new TsnetError("INVALID_ARGUMENT", `${what} "${text}": not an IP address or CIDR`, { cause: error });
  }
}

/** Raw 4 or 16 bytes → text ("10.0.0.1", "fd00::1"). */
export function formatIp(bytes: Uint8Array): string {
  return ipaddr.fromByteArray(Array.from(bytes)).toString();
}

/** The IPv4 broadcast address of a CIDR, as bytes (what `ip addr add ... brd +` computes). */
export function broadcastBytes(cidr: IpBytes): Buffer | undefined {
  if (cidr.family !== 4 || cidr.prefix >= 31) return undefined;
  const value = cidr.bytes.readUInt32BE(0) | (0xffffffff >>> cidr.prefix);
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0, 0);
  return out;
}

import { readFile } from "node:fs/promises";
import { endianness } from "node:os";
import { TsnetError } from "@tsnet/protocol";
import { type Network, parseNetwork } from "./address.js";

/** The networks the host already routes; default pools that overlap one are skipped. */
export interface HostNetworks {
  /** CIDR strings, e.g. ["192.168.1.0/24", "fd00::/64"]; default routes may be included (they are ignored). */
  list(signal?: AbortSignal): Promise<string[]>;
}

/**
 * Reads the kernel's routes from /proc/net/route and /proc/net/ipv6_route (no spawning, no netlink). A missing
 * file (no IPv6, not Linux) counts as no routes.
 */
export class ProcHostNetworks implements HostNetworks {
  readonly #root: string;

  /** `root` is for tests: a directory holding `net/route` and `net/ipv6_route`. */
  constructor(root = "/proc") {
    this.#root = root;
  }

  async list(signal?: AbortSignal): Promise<string[]> {
    const options = signal === undefined ? { encoding: "utf8" as const } : { encoding: "utf8" as const, signal };
    const [v4, v6] = await Promise.all([
      readFile(`${this.#root}/net/route`, options).catch(absentAsEmpty),
      readFile(`${this.#root}/net/ipv6_route`, options).catch(absentAsEmpty),
    ]);
    return [...parseRouteTable(v4, endianness() === "LE"), ...parseIpv6RouteTable(v6)];
  }
}

function absentAsEmpty(error: NodeJS.ErrnoException): string {
  if (error.code === "ENOENT") return "";
  throw error;
}

/**
 * Parses /proc/net/route: hex Destination and Mask in the kernel's byte order (network order stored in a host
 * u32, printed with %08X: reversed on little-endian hosts). Skips the default route.
 */
export function parseRouteTable(text: string, littleEndian = true): string[] {
  const out: string[] = [];
  for (const line of text.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 8) continue;
    const destination = Number.parseInt(fields[1] as string, 16);
    const mask = Number.parseInt(fields[7] as string, 16);
    if (Number.isNaN(destination) || Number.isNaN(mask)) continue;
    const bytes = littleEndian
      ? [destination & 255, (destination >>> 8) & 255, (destination >>> 16) & 255, destination >>> 24]
      : [destination >>> 24, (destination >>> 16) & 255, (destination >>> 8) & 255, destination & 255];
    let prefix = 0;
    for (let m = mask >>> 0; m !== 0; m >>>= 1) prefix += m & 1;
    if (prefix === 0) continue;
    out.push(`${bytes.join(".")}/${prefix}`);
  }
  return out;
}

/** Parses /proc/net/ipv6_route: 32 hex digits of destination, then its prefix length in hex. Skips ::/0. */
export function parseIpv6RouteTable(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    const destination = fields[0];
    const prefixHex = fields[1];
    if (destination === undefined || prefixHex === undefined || !/^[0-9a-f]{32}$/i.test(destination)) continue;
    const prefix = Number.parseInt(prefixHex, 16);
    if (!(prefix > 0 && prefix <= 128)) continue;
    const groups = destination.match(/.{4}/g) as string[];
    out.push(`${groups.join(":")}/${prefix}`);
  }
  return out;
}

/**
 * The host's routes as networks, default routes left out (they overlap everything; Docker's
 * netutils.CheckRouteOverlaps skips them too).
 * @throws TsnetError UNAVAILABLE when the source fails.
 */
export async function readHostRoutes(source: HostNetworks, signal?: AbortSignal): Promise<Network[]> {
  let listed: string[];
  try {
    listed = await source.list(signal);
  } catch (error) {
    throw new TsnetError("UNAVAILABLE", `RequestPool: cannot read the host's routes: ${String(error)}`, {
      cause: error,
    });
  }
  const routes: Network[] = [];
  for (const text of listed) {
    const network = parseNetwork(text);
    if (network !== undefined && network.prefix > 0) routes.push(network);
  }
  return routes;
}

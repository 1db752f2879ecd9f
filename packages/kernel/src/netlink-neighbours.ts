import { TsnetError } from "@tsnet/protocol";
import { FlagsNew, type rt } from "netlink";
import { formatMac, parseMac } from "./attributes.js";
import { formatIp, parseIpBytes } from "./ip-bytes.js";
import { netlinkErrno } from "./netlink-error.js";
import type { RtSocket } from "./rt-socket.js";

const AF_INET = 2;
const AF_INET6 = 10;
const AF_BRIDGE = 7;
const REPLACE = FlagsNew.CREATE | FlagsNew.REPLACE;
const APPEND = FlagsNew.CREATE | FlagsNew.APPEND;
const ZERO_MAC = "00:00:00:00:00:00";

/** A static ARP/NDP entry: `ip` on `link` is at `macAddress`. */
export interface Neighbour {
  link: string;
  ip: string;
  macAddress: string;
}

/** A forwarding-database entry of a bridge port or VXLAN device; `destination` is the VXLAN underlay address. */
export interface FdbEntry {
  link: string;
  macAddress: string;
  destination?: string;
}

function mac(text: string): Buffer {
  try {
    return parseMac(text);
  } catch (error) {
    throw new TsnetError("INVALID_ARGUMENT", `MAC address "${text}": expected aa:bb:cc:dd:ee:ff`, { cause: error });
  }
}

function isGone(error: unknown): boolean {
  const errno = netlinkErrno((error as { cause?: unknown }).cause ?? error);
  return errno === "ENOENT" || errno === "ENODEV";
}

/**
 * Permanent neighbour (ARP/NDP) and FDB entries over rtnetlink, for drivers that program their own L2 (VXLAN
 * overlays, as Docker's overlay driver does). Adds replace what is there (idempotent); removes of missing
 * entries succeed.
 */
export class NetlinkNeighbours {
  private readonly socket: RtSocket;

  constructor(socket: RtSocket) {
    this.socket = socket;
  }

  async addNeighbour(entry: Neighbour, signal?: AbortSignal): Promise<void> {
    const ip = parseIpBytes(entry.ip, "neighbour IP");
    const what = `add neighbour ${entry.ip} ${entry.macAddress} on "${entry.link}"`;
    const ifindex = await this.index(entry.link, what, signal);
    const data: rt.Neighbor = { family: ip.family === 4 ? AF_INET : AF_INET6, ifindex, state: { permanent: true } };
    await this.socket.request(what, signal, false, () =>
      this.socket.rt.newNeighbor(data, { dst: ip.bytes, lladdr: mac(entry.macAddress) }, { flags: REPLACE }),
    );
  }

  async removeNeighbour(entry: Omit<Neighbour, "macAddress">, signal?: AbortSignal): Promise<void> {
    const ip = parseIpBytes(entry.ip, "neighbour IP");
    const what = `remove neighbour ${entry.ip} on "${entry.link}"`;
    const ifindex = await this.index(entry.link, what, signal).catch((error: unknown) => {
      if ((error as TsnetError).code === "NOT_FOUND") return undefined;
      throw error;
    });
    if (ifindex === undefined) return;
    try {
      await this.socket.request(what, signal, false, () =>
        this.socket.rt.delNeighbor({ family: ip.family === 4 ? AF_INET : AF_INET6, ifindex }, { dst: ip.bytes }),
      );
    } catch (error) {
      if (!isGone(error)) throw error;
    }
  }

  /** Permanent neighbours of `link`. */
  async listNeighbours(link: string, signal?: AbortSignal): Promise<Neighbour[]> {
    const ifindex = await this.index(link, `list neighbours of "${link}"`, signal);
    const all = await this.socket.request(`list neighbours of "${link}"`, signal, true, () =>
      this.socket.rt.getNeighbors(),
    );
    return all
      .filter((m) => m.data.ifindex === ifindex && m.data.family !== AF_BRIDGE && m.attrs.dst && m.attrs.lladdr)
      .map((m) => ({ link, ip: formatIp(m.attrs.dst as Buffer), macAddress: formatMac(m.attrs.lladdr) }));
  }

  /**
   * Adds a static FDB entry (`bridge fdb add MAC dev LINK [dst IP] self permanent`). The all-zero MAC with a
   * destination is appended (one per remote VTEP: flooding), any other MAC replaces its entry.
   */
  async addFdb(entry: FdbEntry, signal?: AbortSignal): Promise<void> {
    const what = `add FDB ${entry.macAddress} on "${entry.link}"`;
    const ifindex = await this.index(entry.link, what, signal);
    const attrs: rt.NeighborAttrs = { lladdr: mac(entry.macAddress) };
    if (entry.destination !== undefined) attrs.dst = parseIpBytes(entry.destination, "FDB destination").bytes;
    const data: rt.Neighbor = { family: AF_BRIDGE, ifindex, state: { permanent: true }, flags: { self: true } };
    const flags = entry.macAddress === ZERO_MAC ? APPEND : REPLACE;
    try {
      await this.socket.request(what, signal, false, () => this.socket.rt.newNeighbor(data, attrs, { flags }));
    } catch (error) {
      // Appending a flood entry that is already there: a replay.
      if (netlinkErrno((error as { cause?: unknown }).cause) !== "EEXIST") throw error;
    }
  }

  async removeFdb(entry: FdbEntry, signal?: AbortSignal): Promise<void> {
    const what = `remove FDB ${entry.macAddress} on "${entry.link}"`;
    const ifindex = await this.index(entry.link, what, signal).catch((error: unknown) => {
      if ((error as TsnetError).code === "NOT_FOUND") return undefined;
      throw error;
    });
    if (ifindex === undefined) return;
    const attrs: rt.NeighborAttrs = { lladdr: mac(entry.macAddress) };
    if (entry.destination !== undefined) attrs.dst = parseIpBytes(entry.destination, "FDB destination").bytes;
    try {
      await this.socket.request(what, signal, false, () =>
        this.socket.rt.delNeighbor({ family: AF_BRIDGE, ifindex, flags: { self: true } }, attrs),
      );
    } catch (error) {
      if (!isGone(error)) throw error;
    }
  }

  private async index(link: string, what: string, signal: AbortSignal | undefined): Promise<number> {
    try {
      const [found] = await this.socket.request(`get link "${link}"`, signal, false, () =>
        this.socket.rt.getLink({}, { ifname: link }),
      );
      if (found?.data.index !== undefined) return found.data.index;
    } catch (error) {
      if (!isGone(error)) throw error;
    }
    throw new TsnetError("NOT_FOUND", `${what}: no such link`);
  }
}

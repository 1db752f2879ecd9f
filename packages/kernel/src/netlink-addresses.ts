import { TsnetError } from "@tsnet/protocol";
import { FlagsNew, type rt } from "netlink";
import { broadcastBytes, formatIp, parseIpBytes } from "./ip-bytes.js";
import type { Addresses, Route, Routes } from "./links.js";
import { netlinkErrno } from "./netlink-error.js";
import type { RtSocket } from "./rt-socket.js";

const CREATE = FlagsNew.CREATE | FlagsNew.EXCL;
const AF_INET = 2;
const AF_INET6 = 10;
const MAIN_TABLE = 254;

function errnoOf(error: unknown): string | undefined {
  return netlinkErrno((error as { cause?: unknown }).cause ?? error);
}

async function linkIndex(socket: RtSocket, name: string, signal: AbortSignal | undefined): Promise<number | undefined> {
  try {
    const [found] = await socket.request(`get link "${name}"`, signal, false, () =>
      socket.rt.getLink({}, { ifname: name }),
    );
    return found?.data.index;
  } catch (error) {
    if (errnoOf(error) === "ENODEV") return undefined;
    throw error;
  }
}

/** `Addresses` over one rtnetlink socket. IPv6 addresses are added with IFA_F_NODAD (usable at once, as Docker does). */
export class NetlinkAddresses implements Addresses {
  private readonly socket: RtSocket;

  constructor(socket: RtSocket) {
    this.socket = socket;
  }

  async add(link: string, cidr: string, signal?: AbortSignal): Promise<void> {
    const parsed = parseIpBytes(cidr, "address");
    const what = `add address ${cidr} to "${link}"`;
    const index = await linkIndex(this.socket, link, signal);
    if (index === undefined) throw new TsnetError("NOT_FOUND", `${what}: no such link`);
    const attrs: rt.AddressAttrs = { local: parsed.bytes, address: parsed.bytes };
    const broadcast = broadcastBytes(parsed);
    if (broadcast !== undefined) attrs.broadcast = broadcast;
    const data: rt.Address = { family: parsed.family === 4 ? AF_INET : AF_INET6, prefixlen: parsed.prefix, index };
    if (parsed.family === 6) data.flags = { nodad: true };
    try {
      await this.socket.request(what, signal, false, () => this.socket.rt.newAddress(data, attrs, { flags: CREATE }));
    } catch (error) {
      // EEXIST is only answered for the same address with the same prefix: a replay.
      if (errnoOf(error) !== "EEXIST") throw error;
    }
  }

  async remove(link: string, cidr: string, signal?: AbortSignal): Promise<void> {
    const parsed = parseIpBytes(cidr, "address");
    const index = await linkIndex(this.socket, link, signal);
    if (index === undefined) return;
    const data: rt.Address = { family: parsed.family === 4 ? AF_INET : AF_INET6, prefixlen: parsed.prefix, index };
    try {
      await this.socket.request(`remove address ${cidr} from "${link}"`, signal, false, () =>
        this.socket.rt.delAddress(data, { local: parsed.bytes, address: parsed.bytes }),
      );
    } catch (error) {
      const errno = errnoOf(error);
      if (errno !== "EADDRNOTAVAIL" && errno !== "ENODEV" && errno !== "ENOENT") throw error;
    }
  }

  /** Addresses of `link` as CIDRs (global and link-local alike); a missing link has none. */
  async list(link: string, signal?: AbortSignal): Promise<string[]> {
    const index = await linkIndex(this.socket, link, signal);
    if (index === undefined) return [];
    const all = await this.socket.request(`list addresses of "${link}"`, signal, true, () =>
      this.socket.rt.getAddresses(),
    );
    return all
      .filter((message) => message.data.index === index)
      .flatMap((message) => {
        const bytes = message.attrs.local ?? message.attrs.address;
        return bytes === undefined ? [] : [`${formatIp(bytes)}/${message.data.prefixlen ?? 0}`];
      });
  }
}

/** `Routes` over one rtnetlink socket, main table only. "default" is 0.0.0.0/0, "default6" is ::/0. */
export class NetlinkRoutes implements Routes {
  private readonly socket: RtSocket;

  constructor(socket: RtSocket) {
    this.socket = socket;
  }

  async add(route: Route, signal?: AbortSignal): Promise<void> {
    const what = `add route ${describe(route)}`;
    const { data, attrs } = await this.encode(route, what, signal);
    try {
      await this.socket.request(what, signal, false, () => this.socket.rt.newRoute(data, attrs, { flags: CREATE }));
    } catch (error) {
      if (errnoOf(error) !== "EEXIST") throw error;
    }
  }

  async remove(route: Route, signal?: AbortSignal): Promise<void> {
    const what = `remove route ${describe(route)}`;
    let encoded: { data: rt.Route; attrs: rt.RouteAttrs };
    try {
      encoded = await this.encode(route, what, signal);
    } catch (error) {
      if ((error as { code?: string }).code === "NOT_FOUND") return;
      throw error;
    }
    try {
      await this.socket.request(what, signal, false, () => this.socket.rt.delRoute(encoded.data, encoded.attrs));
    } catch (error) {
      const errno = errnoOf(error);
      if (errno !== "ESRCH" && errno !== "ENOENT" && errno !== "ENODEV") throw error;
    }
  }

  async list(signal?: AbortSignal): Promise<Route[]> {
    const [all, links] = [
      await this.socket.request("list routes", signal, true, () => this.socket.rt.getRoutes()),
      await this.socket.request("list links", signal, true, () => this.socket.rt.getLinks()),
    ];
    const names = new Map(links.map((message) => [message.data.index ?? 0, message.attrs.ifname ?? ""]));
    const out: Route[] = [];
    for (const { data, attrs } of all) {
      if ((attrs.table ?? data.table) !== MAIN_TABLE) continue;
      if (data.type !== "UNICAST" && data.type !== 1) continue;
      const family = data.family === AF_INET6 ? 6 : 4;
      const destination =
        data.dstLen === 0 || attrs.dst === undefined
          ? family === 6
            ? "default6"
            : "default"
          : `${formatIp(attrs.dst)}/${data.dstLen ?? 0}`;
      const route: Route = { destination };
      if (attrs.gateway !== undefined) route.gateway = formatIp(attrs.gateway);
      const link = attrs.oif === undefined ? undefined : names.get(attrs.oif);
      if (link !== undefined) route.link = link;
      out.push(route);
    }
    return out;
  }

  private async encode(
    route: Route,
    what: string,
    signal: AbortSignal | undefined,
  ): Promise<{ data: rt.Route; attrs: rt.RouteAttrs }> {
    const isDefault = route.destination === "default" || route.destination === "default6";
    const destination = isDefault ? undefined : parseIpBytes(route.destination, "route destination");
    const gateway = route.gateway === undefined ? undefined : parseIpBytes(route.gateway, "route gateway");
    const family = destination?.family ?? gateway?.family ?? (route.destination === "default6" ? 6 : 4);
    if (gateway !== undefined && gateway.family !== family) {
      throw new TsnetError("INVALID_ARGUMENT", `${what}: gateway and destination are of different IP families`);
    }
    const data: rt.Route = {
      family: family === 4 ? AF_INET : AF_INET6,
      dstLen: destination?.prefix ?? 0,
      table: MAIN_TABLE,
      protocol: "BOOT",
      scope: gateway === undefined ? "LINK" : "UNIVERSE",
      type: "UNICAST",
    };
    const attrs: rt.RouteAttrs = {};
    if (destination !== undefined) attrs.dst = destination.bytes;
    if (gateway !== undefined) attrs.gateway = gateway.bytes;
    if (route.link !== undefined) {
      const index = await linkIndex(this.socket, route.link, signal);
      if (index === undefined) throw new TsnetError("NOT_FOUND", `${what}: no link "${route.link}"`);
      attrs.oif = index;
    }
    return { data, attrs };
  }
}

function describe(route: Route): string {
  const via = route.gateway === undefined ? "" : ` via ${route.gateway}`;
  const dev = route.link === undefined ? "" : ` dev ${route.link}`;
  return `${route.destination}${via}${dev}`;
}

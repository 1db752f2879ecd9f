import { open } from "node:fs/promises";
import { TsnetError } from "@tsnet/protocol";
import { FlagsNew, type ifla, type rt } from "netlink";
import {
  bridgePortLinkInfo,
  formatMac,
  linkInfo,
  macvlanLinkInfo,
  parseLinkInfo,
  parseMac,
  vethLinkInfo,
  vxlanLinkInfo,
} from "./attributes.js";
import { parseIpBytes } from "./ip-bytes.js";
import type { Link, Links, MacvlanOptions, VethOptions, VxlanOptions } from "./links.js";
import { fromNetlink, netlinkErrno } from "./netlink-error.js";
import { OffThreadDeleter, REAP_GROUP } from "./off-thread.js";
import type { RtSocket } from "./rt-socket.js";

const CREATE = FlagsNew.CREATE | FlagsNew.EXCL;

/** What `moveToNamespace` may change in the same request (Docker's SetKey does rename, MAC and MTU). */
export interface MoveOptions {
  newName?: string;
  macAddress?: string;
  mtu?: number;
}

function isGone(error: unknown): boolean {
  const errno = netlinkErrno((error as { cause?: unknown }).cause ?? error);
  return errno === "ENODEV" || errno === "ENOENT";
}

function checkName(name: string, what: string): void {
  // IFNAMSIZ is 16 with the NUL; the kernel also refuses "/", ":" and whitespace.
  if (name.length === 0 || name.length > 15 || /[/:\s]/.test(name) || name === "." || name === "..") {
    throw new TsnetError("INVALID_ARGUMENT", `${what} "${name}": must be 1-15 characters without "/", ":" or spaces`);
  }
}

function mac(text: string, what: string): Buffer {
  try {
    return parseMac(text);
  } catch (error) {
    throw new TsnetError("INVALID_ARGUMENT", `${what} "${text}": expected aa:bb:cc:dd:ee:ff`, { cause: error });
  }
}

/**
 * `Links` over one rtnetlink socket. Requests name links by IFLA_IFNAME where the kernel allows it (set, get,
 * delete), so most calls are one round trip; a bridge's index for IFLA_MASTER is cached and re-read once if stale.
 */
export interface NetlinkLinksOptions {
  /**
   * Send deletes from a worker thread (default true). A delete blocks the sending thread for an RCU grace
   * period (≈20 ms a veth pair, ≈100 ms for 200 in one group): off the main thread, other requests go on.
   */
  offThreadDeletes?: boolean;
  /**
   * Link group (IFLA_GROUP) given to every link this handle creates, both ends of a veth included. The kernel sets
   * it in the creating request and keeps it across renames and namespace moves, so it marks which daemon made a
   * link: two daemons on one host (or a test daemon beside a real one) tell their links apart by it.
   */
  linkGroup?: number;
}

export class NetlinkLinks implements Links {
  private readonly socket: RtSocket;
  private readonly masterIndex = new Map<string, number>();
  private readonly deleter: OffThreadDeleter | undefined;
  /** The group this handle stamps on the links it creates (NetlinkLinksOptions.linkGroup). */
  readonly linkGroup: number | undefined;

  constructor(socket: RtSocket, options: NetlinkLinksOptions = {}) {
    this.socket = socket;
    this.linkGroup = options.linkGroup;
    this.deleter =
      options.offThreadDeletes === false ? undefined : new OffThreadDeleter(socket.namespacePath, socket.timeoutMs);
  }

  /** Stops the delete worker, if one was started. */
  async close(): Promise<void> {
    await this.deleter?.close();
  }

  /** Creates a bridge, by default down. An existing bridge of that name is returned; another kind is CONFLICT. */
  async addBridge(
    name: string,
    options: { mtu: number; macAddress?: string; up?: boolean },
    signal?: AbortSignal,
  ): Promise<Link> {
    checkName(name, "bridge name");
    const attrs: ifla.LinkAttrs = { ifname: name, mtu: options.mtu, linkinfo: linkInfo("bridge") };
    if (options.macAddress !== undefined) attrs.address = mac(options.macAddress, "bridge MAC address");
    await this.create(`add bridge "${name}"`, options.up === true, attrs, signal, "bridge");
    return this.mustGet(name, signal);
  }

  /**
   * Creates a veth pair in ONE RTM_NEWLINK: host end named `host` here (optionally on `master`, up), peer named
   * `peer` (optionally with a MAC, optionally created directly in `peerNamespace`). Both ends get `mtu`.
   * Replaying with the same names is a success; a different link holding `host` is CONFLICT.
   */
  async addVethPair(host: string, peer: string, options: VethOptions, signal?: AbortSignal): Promise<void> {
    checkName(host, "veth name");
    checkName(peer, "veth peer name");
    const what = `add veth pair "${host}"/"${peer}"`;
    const namespace = options.peerNamespace === undefined ? undefined : await open(options.peerNamespace, "r");
    try {
      const build = (masterIndex: number | undefined): ifla.LinkAttrs => {
        const attrs: ifla.LinkAttrs = {
          ifname: host,
          mtu: options.mtu,
          linkinfo: vethLinkInfo({
            name: peer,
            mtu: options.mtu,
            ...(options.peerMacAddress === undefined ? {} : { macAddress: mac(options.peerMacAddress, "peer MAC") }),
            ...(namespace === undefined ? {} : { namespaceFd: namespace.fd }),
            ...(this.linkGroup === undefined ? {} : { group: this.linkGroup }),
          }),
        };
        if (options.macAddress !== undefined) attrs.address = mac(options.macAddress, "veth MAC address");
        if (masterIndex !== undefined) attrs.master = masterIndex;
        return attrs;
      };
      await this.withMaster(options.master, signal, (index) =>
        this.create(what, options.up === true, build(index), signal, "veth", peer),
      );
      if (options.hairpin === true && options.master !== undefined) {
        // A pair whose port could not be set up is not what was asked for: remove it, so nothing is left half-made.
        await this.setHairpin(host, true, signal).catch(async (error: unknown) => {
          await this.delete(host).catch(() => {});
          throw error;
        });
      }
    } finally {
      await namespace?.close();
    }
  }

  async addVxlan(name: string, options: VxlanOptions, signal?: AbortSignal): Promise<Link> {
    checkName(name, "vxlan name");
    const parentIndex = options.parent === undefined ? undefined : (await this.mustGet(options.parent, signal)).index;
    const info = vxlanLinkInfo({
      vni: options.vni,
      port: options.port,
      ...(options.local === undefined ? {} : { local: parseIpBytes(options.local, "vxlan local").bytes }),
      ...(parentIndex === undefined ? {} : { parentIndex }),
    });
    await this.create(
      `add vxlan "${name}"`,
      false,
      { ifname: name, mtu: options.mtu, linkinfo: info },
      signal,
      "vxlan",
    );
    return this.mustGet(name, signal);
  }

  async addMacvlan(name: string, options: MacvlanOptions, signal?: AbortSignal): Promise<Link> {
    checkName(name, "macvlan name");
    const parent = await this.mustGet(options.parent, signal);
    const attrs: ifla.LinkAttrs = { ifname: name, mtu: options.mtu, linkinfo: macvlanLinkInfo(options.mode) };
    attrs.link = Buffer.from(new Uint32Array([parent.index]).buffer);
    await this.create(`add macvlan "${name}"`, false, attrs, signal, "macvlan");
    return this.mustGet(name, signal);
  }

  async setMaster(name: string, bridge: string, signal?: AbortSignal): Promise<void> {
    await this.withMaster(bridge, signal, (index) =>
      this.set(`set master of "${name}" to "${bridge}"`, name, { master: index ?? 0 }, undefined, signal),
    );
  }

  /** Detaches a link from its bridge. */
  async setNoMaster(name: string, signal?: AbortSignal): Promise<void> {
    await this.set(`detach "${name}" from its bridge`, name, { master: 0 }, undefined, signal);
  }

  async setUp(name: string, signal?: AbortSignal): Promise<void> {
    await this.set(`set "${name}" up`, name, {}, true, signal);
  }

  async setDown(name: string, signal?: AbortSignal): Promise<void> {
    await this.set(`set "${name}" down`, name, {}, false, signal);
  }

  async setMtu(name: string, mtu: number, signal?: AbortSignal): Promise<void> {
    await this.set(`set MTU of "${name}" to ${mtu}`, name, { mtu }, undefined, signal);
  }

  async setMacAddress(name: string, macAddress: string, signal?: AbortSignal): Promise<void> {
    const address = mac(macAddress, "MAC address");
    await this.set(`set MAC of "${name}" to ${macAddress}`, name, { address }, undefined, signal);
  }

  /** Renames a link (it must be down, or the kernel answers EBUSY → UNAVAILABLE). */
  async rename(name: string, newName: string, signal?: AbortSignal): Promise<void> {
    checkName(newName, "new link name");
    const link = await this.mustGet(name, signal);
    await this.socket.request(`rename "${name}" to "${newName}"`, signal, false, () =>
      this.socket.rt.setLink({ index: link.index }, { ifname: newName }),
    );
  }

  /**
   * ONE RTM_SETLINK by index: renames a (down) link to `newName`, enslaves it to `master` and brings it up.
   * The veth pool claims a pre-made pair with it. With `hairpin` (and `master`), the port's hairpin change goes
   * in the same slot; if only that fails, the claimed link is deleted and its error thrown (nothing half-made).
   * Throws NOT_FOUND (index gone), CONFLICT (name taken).
   */
  async claim(
    index: number,
    newName: string,
    options: { master?: string; up?: boolean; hairpin?: boolean },
    signal?: AbortSignal,
  ): Promise<void> {
    checkName(newName, "link name");
    const up = options.up === true;
    const hairpin = options.hairpin === true && options.master !== undefined;
    let portFailure: { error: unknown } | undefined;
    await this.withMaster(options.master, signal, (masterIndex) =>
      this.socket.request(`claim link #${index} as "${newName}"`, signal, false, async () => {
        const data: rt.Link = up ? { index, flags: { up: true }, change: { up: true } } : { index };
        const attrs: ifla.LinkAttrs = { ifname: newName };
        if (masterIndex !== undefined) attrs.master = masterIndex;
        const claimed = this.socket.rt.setLink(data, attrs);
        if (!hairpin) return void (await claimed);
        // The kernel handles a netlink request inside sendmsg, in order: the hairpin change, sent before the
        // first reply is read, already finds the port on its bridge, and costs no extra round trip.
        const port = this.socket.rt.newLink({ index }, { linkinfo: bridgePortLinkInfo({ hairpin: true }) });
        const [first, second] = await Promise.allSettled([claimed, port]);
        if (first.status === "rejected") throw first.reason;
        if (second.status === "rejected") portFailure = { error: second.reason };
      }),
    );
    if (portFailure !== undefined) {
      await this.delete(newName).catch(() => {});
      throw fromNetlink(portFailure.error, `set hairpin of claimed link "${newName}"`);
    }
  }

  /**
   * Turns hairpin mode of a bridge port on or off (one RTM_NEWLINK without NLM_F_CREATE, bridge_slave data).
   * Throws NOT_FOUND (no such link), INVALID_ARGUMENT/UNAVAILABLE from the kernel when the link has no bridge master.
   */
  async setHairpin(name: string, on: boolean, signal?: AbortSignal): Promise<void> {
    await this.socket.request(`set hairpin of "${name}" ${on ? "on" : "off"}`, signal, false, () =>
      this.socket.rt.newLink({}, { ifname: name, linkinfo: bridgePortLinkInfo({ hairpin: on }) }),
    );
  }

  /**
   * Moves a link into the namespace at `namespacePath` (/var/run/netns/NAME or /proc/PID/ns/net), renaming it
   * and setting MAC/MTU in the same request when asked (the kernel applies them after the move).
   */
  async moveToNamespace(
    name: string,
    namespacePath: string,
    signal?: AbortSignal,
    options: MoveOptions = {},
  ): Promise<void> {
    const link = await this.mustGet(name, signal);
    const namespace = await open(namespacePath, "r").catch((error: unknown) => {
      throw new TsnetError("NOT_FOUND", `network namespace "${namespacePath}": cannot open`, { cause: error });
    });
    try {
      const attrs: ifla.LinkAttrs = { netNsFd: namespace.fd };
      if (options.newName !== undefined) {
        checkName(options.newName, "new link name");
        attrs.ifname = options.newName;
      }
      if (options.macAddress !== undefined) attrs.address = mac(options.macAddress, "MAC address");
      if (options.mtu !== undefined) attrs.mtu = options.mtu;
      await this.socket.request(`move "${name}" to namespace "${namespacePath}"`, signal, false, () =>
        this.socket.rt.setLink({ index: link.index }, attrs),
      );
    } finally {
      await namespace.close();
    }
  }

  async get(name: string, signal?: AbortSignal): Promise<Link | undefined> {
    let found: rt.LinkMessage | undefined;
    try {
      [found] = await this.socket.request(`get link "${name}"`, signal, false, () =>
        this.socket.rt.getLink({}, { ifname: name }),
      );
    } catch (error) {
      if (isGone(error)) return undefined;
      throw error;
    }
    if (found === undefined) return undefined;
    const names = new Map<number, string>();
    for (const index of [found.attrs.master, peerIndex(found)]) {
      if (index === undefined || index === 0) continue;
      const other = await this.byIndex(index, signal);
      if (other !== undefined) names.set(index, other);
    }
    return toLink(found, names);
  }

  async list(signal?: AbortSignal): Promise<Link[]> {
    const all = await this.socket.request("list links", signal, true, () => this.socket.rt.getLinks());
    const names = new Map(all.map((message) => [message.data.index ?? 0, message.attrs.ifname ?? ""]));
    return all.map((message) => toLink(message, names));
  }

  async delete(name: string, signal?: AbortSignal): Promise<void> {
    this.masterIndex.delete(name);
    if (this.deleter !== undefined) return this.deleter.delete([name], `delete link "${name}"`, signal);
    try {
      await this.socket.request(`delete link "${name}"`, signal, false, () =>
        this.socket.rt.delLink({}, { ifname: name }),
      );
    } catch (error) {
      if (!isGone(error)) throw error;
    }
  }

  /**
   * Deletes many links in one kernel pass: each is moved into a reserved link group, then the group is deleted
   * with one RTM_DELLINK, so the kernel waits for one RCU grace period instead of one per link (a veth pair
   * costs 17–21 ms alone). Missing links are skipped. Links must be deletable kinds (veth, bridge, vxlan...).
   */
  async deleteMany(names: readonly string[], signal?: AbortSignal): Promise<void> {
    if (names.length === 0) return;
    if (this.deleter !== undefined) return this.deleter.delete(names, `delete ${names.length} links`, signal);
    let marked = 0;
    for (const name of names) {
      this.masterIndex.delete(name);
      try {
        await this.set(`mark "${name}" for deletion`, name, { group: REAP_GROUP }, undefined, signal);
        marked++;
      } catch (error) {
        if (!isGone(error)) throw error;
      }
    }
    if (marked === 0) return;
    await this.socket.request(`delete ${marked} links`, signal, false, () =>
      this.socket.rt.delLink({}, { group: REAP_GROUP }),
    );
  }

  private async create(
    what: string,
    up: boolean,
    attrs: ifla.LinkAttrs,
    signal: AbortSignal | undefined,
    kind: string,
    peer?: string,
  ): Promise<void> {
    const data: rt.Link = up ? { flags: { up: true }, change: { up: true } } : {};
    if (this.linkGroup !== undefined) attrs.group = this.linkGroup;
    try {
      await this.socket.request(what, signal, false, () => this.socket.rt.newLink(data, attrs, { flags: CREATE }));
    } catch (error) {
      if ((error as { code?: string }).code !== "CONFLICT" || attrs.ifname === undefined) throw error;
      // A replay: the same link already there counts as success (STYLE.md §4); anything else is a CONFLICT.
      const existing = await this.get(attrs.ifname, signal);
      const same =
        existing?.kind === kind &&
        (peer === undefined || existing.kind !== "veth" || existing.peer === undefined || existing.peer === peer);
      if (!same) {
        throw new TsnetError(
          "CONFLICT",
          existing === undefined
            ? `${what}: ${peer === undefined ? "the name" : `"${peer}"`} is already taken`
            : `${what}: a ${existing.kind} named "${attrs.ifname}" already exists`,
          {
            cause: error,
          },
        );
      }
      if (attrs.master !== undefined || up) {
        await this.set(
          what,
          attrs.ifname,
          attrs.master === undefined ? {} : { master: attrs.master },
          up || undefined,
          signal,
        );
      }
    }
  }

  private async set(
    what: string,
    name: string,
    attrs: ifla.LinkAttrs,
    up: boolean | undefined,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const data: rt.Link = up === undefined ? {} : { flags: up ? { up: true } : {}, change: { up: true } };
    await this.socket.request(what, signal, false, () => this.socket.rt.setLink(data, { ...attrs, ifname: name }));
  }

  /** Runs `work` with the bridge's index; if the cached index was stale (ENODEV/EINVAL), re-reads it once. */
  private async withMaster(
    bridge: string | undefined,
    signal: AbortSignal | undefined,
    work: (index: number | undefined) => Promise<void>,
  ): Promise<void> {
    if (bridge === undefined) return work(undefined);
    const cached = this.masterIndex.get(bridge);
    if (cached !== undefined) {
      try {
        return await work(cached);
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code !== "NOT_FOUND" && code !== "INVALID_ARGUMENT") throw error;
        this.masterIndex.delete(bridge);
      }
    }
    const link = await this.get(bridge, signal);
    if (link === undefined) throw new TsnetError("NOT_FOUND", `bridge "${bridge}": no such link`);
    if (link.kind !== "bridge") throw new TsnetError("INVALID_ARGUMENT", `"${bridge}" is a ${link.kind}, not a bridge`);
    this.masterIndex.set(bridge, link.index);
    return work(link.index);
  }

  private async mustGet(name: string, signal: AbortSignal | undefined): Promise<Link> {
    const link = await this.get(name, signal);
    if (link === undefined) throw new TsnetError("NOT_FOUND", `link "${name}": no such link`);
    return link;
  }

  private async byIndex(index: number, signal: AbortSignal | undefined): Promise<string | undefined> {
    try {
      const [found] = await this.socket.request(`get link #${index}`, signal, false, () =>
        this.socket.rt.getLink({ index }),
      );
      return found?.attrs.ifname;
    } catch (error) {
      if (isGone(error)) return undefined;
      throw error;
    }
  }
}

function peerIndex(message: rt.LinkMessage): number | undefined {
  // A veth's IFLA_LINK is its peer's index; with IFLA_LINK_NETNSID the peer is in another namespace.
  if (message.attrs.linkNetnsid !== undefined) return undefined;
  const link = message.attrs.link;
  return link !== undefined && link.length >= 4 ? link.readUInt32LE(0) : undefined;
}

function toLink(message: rt.LinkMessage, names: ReadonlyMap<number, string>): Link {
  const { attrs, data } = message;
  const base = {
    name: attrs.ifname ?? "",
    index: data.index ?? 0,
    mtu: attrs.mtu ?? 0,
    up: data.flags?.up === true,
    macAddress: formatMac(attrs.address),
    group: attrs.group ?? 0,
  };
  const master = attrs.master === undefined || attrs.master === 0 ? undefined : names.get(attrs.master);
  const info = parseLinkInfo(attrs.linkinfo);
  const withPort = info.hairpin === undefined ? base : { ...base, hairpin: info.hairpin };
  const withMaster = master === undefined ? withPort : { ...withPort, master };
  switch (info.kind) {
    case "bridge":
      return { ...withMaster, kind: "bridge" };
    case "veth": {
      const index = peerIndex(message);
      const peer = index === undefined ? undefined : names.get(index);
      return peer === undefined ? { ...withMaster, kind: "veth" } : { ...withMaster, kind: "veth", peer };
    }
    case "vxlan":
      return { ...withMaster, kind: "vxlan", vni: info.vni ?? 0, port: info.port ?? 0 };
    case "macvlan": {
      const index = peerIndex(message);
      const parent = index === undefined ? undefined : names.get(index);
      return parent === undefined ? { ...withMaster, kind: "macvlan" } : { ...withMaster, kind: "macvlan", parent };
    }
    default:
      return { ...withMaster, kind: "other", type: info.kind ?? (attrs.ifname === "lo" ? "loopback" : "device") };
  }
}

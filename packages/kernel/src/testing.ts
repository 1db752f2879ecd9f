/**
 * In-memory fakes of the kernel interfaces, for unit tests of drivers without root. They behave like the
 * kernel where drivers can tell: EEXIST → CONFLICT, a missing link → NOT_FOUND, deleting a missing link
 * succeeds, names longer than 15 characters → INVALID_ARGUMENT, deleting one veth end deletes both.
 * Each has `failOn(method, error)` so that undo paths can be tested.
 */
import { TsnetError } from "@tsnet/protocol";
import type { Firewall, FirewallNetwork } from "./firewall.js";
import type {
  Addresses,
  Link,
  Links,
  MacvlanOptions,
  Namespace,
  Route,
  Routes,
  VethOptions,
  VxlanOptions,
} from "./links.js";

/** How a `failOn` hook fires: let `skip` calls through first, then fail `times` calls (default: every one). */
export interface FailureOptions {
  skip?: number;
  times?: number;
}

interface Failure {
  error: Error;
  skip: number;
  times: number;
}

/** Shared `failOn` machinery: one armed failure per method name. */
class FailureHooks<M extends string> {
  readonly #failures = new Map<M, Failure>();

  arm(method: M, error: Error, options: FailureOptions): void {
    this.#failures.set(method, { error, skip: options.skip ?? 0, times: options.times ?? Number.POSITIVE_INFINITY });
  }

  clear(): void {
    this.#failures.clear();
  }

  check(method: M): void {
    const failure = this.#failures.get(method);
    if (failure === undefined) return;
    if (failure.skip > 0) {
      failure.skip--;
      return;
    }
    failure.times--;
    if (failure.times <= 0) this.#failures.delete(method);
    throw failure.error;
  }
}

const IFNAMSIZ = 15;

/** The kernel's dev_valid_name: 1-15 bytes, not "." or "..", no '/', ':' or whitespace. */
function checkName(name: string, what: string): void {
  if (name.length === 0 || name.length > IFNAMSIZ || name === "." || name === ".." || /[/:\s]/.test(name)) {
    throw new TsnetError("INVALID_ARGUMENT", `${what} "${name}": not a valid interface name (1-15 characters)`);
  }
}

function checkMtu(mtu: number, what: string): void {
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    throw new TsnetError("INVALID_ARGUMENT", `${what}: MTU ${mtu}: EINVAL`);
  }
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

function randomMac(): string {
  const bytes = [0x02, ...Array.from({ length: 5 }, () => Math.floor(Math.random() * 256))];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

function abortCheck(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new TsnetError("UNAVAILABLE", `${what}: aborted before start`);
}

/** Method names of Links, for `failOn`. */
export type LinksMethod = keyof Links | "deleteMany";

export interface MemoryLinksOptions {
  /** Milliseconds each call of a method takes (e.g. `{ delete: 20 }` to model veth deletion cost). */
  latency?: Partial<Record<LinksMethod, number>>;
}

/**
 * Links held in a Map. Moving a link to a namespace path hands it to the MemoryNamespace registered under
 * that path in the same {@link MemoryHost}, or drops it from view when none is.
 */
export class MemoryLinks implements Links {
  readonly #links = new Map<string, Link>();
  readonly #hooks = new FailureHooks<LinksMethod>();
  readonly #latency: Partial<Record<LinksMethod, number>>;
  #nextIndex = 2;
  /** Called when a link disappears (deleted or moved away), so addresses/routes on it go too. */
  onRemove: (name: string) => void = () => {};
  /** Resolves a namespace path to the links of another fake namespace. */
  resolveNamespace: (path: string) => MemoryLinks | undefined = () => undefined;

  constructor(options: MemoryLinksOptions = {}) {
    this.#latency = options.latency ?? {};
  }

  /** Makes calls to `method` throw `error` (every call unless `options.times`; after `options.skip` passes). */
  failOn(method: LinksMethod, error: Error, options: FailureOptions = {}): void {
    this.#hooks.arm(method, error, options);
  }

  clearFailures(): void {
    this.#hooks.clear();
  }

  /** Synchronous view of every link, for assertions. */
  snapshot(): Link[] {
    return [...this.#links.values()].map((link) => ({ ...link }));
  }

  async #enter(method: LinksMethod, signal: AbortSignal | undefined): Promise<void> {
    abortCheck(signal, method);
    const delay = this.#latency[method];
    if (delay !== undefined && delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    this.#hooks.check(method);
  }

  #require(name: string, what: string): Link {
    const link = this.#links.get(name);
    if (link === undefined) throw new TsnetError("NOT_FOUND", `${what}: link "${name}": ENODEV`);
    return link;
  }

  #insert(link: Link): void {
    this.#links.set(link.name, link);
  }

  /** Puts a link that arrives from another namespace (veth peer or move). */
  adopt(link: Link): void {
    if (this.#links.has(link.name)) throw new TsnetError("CONFLICT", `link "${link.name}": EEXIST`);
    this.#insert({ ...link, index: this.#nextIndex++ });
  }

  /** Removes a link without the veth-peer cascade (its peer side handles that). */
  drop(name: string): void {
    if (this.#links.delete(name)) this.onRemove(name);
  }

  async addBridge(
    name: string,
    options: { mtu: number; macAddress?: string; up?: boolean },
    signal?: AbortSignal,
  ): Promise<Link> {
    await this.#enter("addBridge", signal);
    checkName(name, "add bridge");
    const existing = this.#links.get(name);
    if (existing !== undefined) {
      if (existing.kind !== "bridge") {
        throw new TsnetError("CONFLICT", `add bridge "${name}": a ${existing.kind} link of that name exists: EEXIST`);
      }
      if (options.up === true) existing.up = true;
      return { ...existing };
    }
    checkMtu(options.mtu, `add bridge "${name}"`);
    const link: Link = {
      kind: "bridge",
      name,
      index: this.#nextIndex++,
      mtu: options.mtu,
      up: options.up === true,
      macAddress: options.macAddress ?? randomMac(),
    };
    this.#insert(link);
    return { ...link };
  }

  /** For each veth end here: where its peer lives. */
  readonly #pairs = new Map<string, MemoryLinks>();

  /**
   * Like NetlinkLinks: one request makes the pair, with the host end on `master` and up when asked. The same
   * pair already there is a success (its master/up applied again); another link holding either name is CONFLICT.
   */
  async addVethPair(host: string, peer: string, options: VethOptions, signal?: AbortSignal): Promise<void> {
    await this.#enter("addVethPair", signal);
    checkName(host, "add veth");
    checkName(peer, "add veth peer");
    checkMtu(options.mtu, `add veth "${host}"`);
    if (options.macAddress !== undefined && !MAC.test(options.macAddress)) {
      throw new TsnetError("INVALID_ARGUMENT", `add veth "${host}": MAC "${options.macAddress}": EINVAL`);
    }
    if (options.peerMacAddress !== undefined && !MAC.test(options.peerMacAddress)) {
      throw new TsnetError("INVALID_ARGUMENT", `add veth "${host}": peer MAC "${options.peerMacAddress}": EINVAL`);
    }
    if (host === peer) throw new TsnetError("CONFLICT", `add veth "${host}": peer has the same name: EEXIST`);
    const target = options.peerNamespace === undefined ? this : this.resolveNamespace(options.peerNamespace);
    if (target === undefined) {
      throw new TsnetError("NOT_FOUND", `add veth "${host}": namespace ${options.peerNamespace}: ENOENT`);
    }
    if (options.master !== undefined) {
      const bridge = this.#require(options.master, `add veth "${host}" master`);
      if (bridge.kind !== "bridge") {
        throw new TsnetError("INVALID_ARGUMENT", `add veth "${host}": "${options.master}" is not a bridge`);
      }
    }
    const existing = this.#links.get(host);
    if (existing !== undefined) {
      if (existing.kind !== "veth" || (existing.peer !== undefined && existing.peer !== peer)) {
        throw new TsnetError("CONFLICT", `add veth "${host}": a ${existing.kind} link of that name exists: EEXIST`);
      }
      if (options.master !== undefined) existing.master = options.master;
      if (options.up === true) existing.up = true;
      if (options.hairpin === true && options.master !== undefined) existing.hairpin = true;
      return;
    }
    if (target.#links.has(peer)) throw new TsnetError("CONFLICT", `add veth peer "${peer}": EEXIST`);
    const hostLink: Link = {
      kind: "veth",
      name: host,
      peer,
      index: this.#nextIndex++,
      mtu: options.mtu,
      up: options.up === true,
      macAddress: options.macAddress ?? randomMac(),
      ...(options.master === undefined ? {} : { master: options.master }),
      ...(options.hairpin === true && options.master !== undefined ? { hairpin: true } : {}),
    };
    this.#insert(hostLink);
    target.adopt({
      kind: "veth",
      name: peer,
      peer: host,
      index: 0,
      mtu: options.mtu,
      up: false,
      macAddress: options.peerMacAddress ?? randomMac(),
    });
    this.#pairs.set(host, target);
    target.#pairs.set(peer, this);
  }

  async addVxlan(name: string, options: VxlanOptions, signal?: AbortSignal): Promise<Link> {
    await this.#enter("addVxlan", signal);
    checkName(name, "add vxlan");
    checkMtu(options.mtu, `add vxlan "${name}"`);
    if (this.#links.has(name)) throw new TsnetError("CONFLICT", `add vxlan "${name}": EEXIST`);
    const link: Link = {
      kind: "vxlan",
      name,
      vni: options.vni,
      port: options.port,
      index: this.#nextIndex++,
      mtu: options.mtu,
      up: false,
      macAddress: randomMac(),
    };
    this.#insert(link);
    return { ...link };
  }

  async addMacvlan(name: string, options: MacvlanOptions, signal?: AbortSignal): Promise<Link> {
    await this.#enter("addMacvlan", signal);
    checkName(name, "add macvlan");
    checkMtu(options.mtu, `add macvlan "${name}"`);
    this.#require(options.parent, `add macvlan "${name}" parent`);
    if (this.#links.has(name)) throw new TsnetError("CONFLICT", `add macvlan "${name}": EEXIST`);
    const link: Link = {
      kind: "macvlan",
      name,
      parent: options.parent,
      index: this.#nextIndex++,
      mtu: options.mtu,
      up: false,
      macAddress: randomMac(),
    };
    this.#insert(link);
    return { ...link };
  }

  async setMaster(name: string, bridge: string, signal?: AbortSignal): Promise<void> {
    await this.#enter("setMaster", signal);
    const link = this.#require(name, "set master");
    const master = this.#require(bridge, `set master of "${name}"`);
    if (master.kind !== "bridge")
      throw new TsnetError("INVALID_ARGUMENT", `set master of "${name}": "${bridge}" is not a bridge`);
    link.master = bridge;
  }

  async setUp(name: string, signal?: AbortSignal): Promise<void> {
    await this.#enter("setUp", signal);
    this.#require(name, "set up").up = true;
  }

  async setMtu(name: string, mtu: number, signal?: AbortSignal): Promise<void> {
    await this.#enter("setMtu", signal);
    const link = this.#require(name, "set mtu");
    checkMtu(mtu, `set mtu of "${name}"`);
    link.mtu = mtu;
  }

  async setMacAddress(name: string, macAddress: string, signal?: AbortSignal): Promise<void> {
    await this.#enter("setMacAddress", signal);
    const link = this.#require(name, "set address");
    if (!MAC.test(macAddress))
      throw new TsnetError("INVALID_ARGUMENT", `set address of "${name}": "${macAddress}": EINVAL`);
    link.macAddress = macAddress;
  }

  /** Like NetlinkLinks: optionally renames the link and sets its MAC and MTU in the same request. */
  async moveToNamespace(
    name: string,
    namespacePath: string,
    signal?: AbortSignal,
    options: { newName?: string; macAddress?: string; mtu?: number } = {},
  ): Promise<void> {
    await this.#enter("moveToNamespace", signal);
    const link = this.#require(name, "move link");
    const target = this.resolveNamespace(namespacePath);
    if (target === this) return;
    const newName = options.newName ?? name;
    checkName(newName, "move link: new name");
    if (options.mtu !== undefined) checkMtu(options.mtu, `move link "${name}"`);
    if (options.macAddress !== undefined && !MAC.test(options.macAddress)) {
      throw new TsnetError("INVALID_ARGUMENT", `move link "${name}": MAC "${options.macAddress}": EINVAL`);
    }
    const moved: Link = { ...link, name: newName, up: false };
    delete moved.master;
    delete moved.hairpin;
    if (options.mtu !== undefined) moved.mtu = options.mtu;
    if (options.macAddress !== undefined) moved.macAddress = options.macAddress;
    if (target !== undefined) target.adopt(moved);
    this.#links.delete(name);
    this.onRemove(name);
    for (const other of this.#links.values()) {
      if (other.master === name) {
        delete other.master;
        delete other.hairpin;
      }
    }
    const peerSide = this.#pairs.get(name);
    this.#pairs.delete(name);
    if (peerSide !== undefined && link.kind === "veth" && link.peer !== undefined) {
      const peerLink = peerSide.#links.get(link.peer);
      if (target === undefined) {
        // The moved end is out of view now; the kernel keeps the pair, but nothing here can reach it.
        peerSide.#pairs.delete(link.peer);
      } else {
        target.#pairs.set(newName, peerSide);
        peerSide.#pairs.set(link.peer, target);
        if (peerLink?.kind === "veth") peerLink.peer = newName;
      }
    }
  }

  /** Like NetlinkLinks.deleteMany: every named link in one pass (latency counted once); missing ones skipped. */
  async deleteMany(names: readonly string[], signal?: AbortSignal): Promise<void> {
    await this.#enter("deleteMany", signal);
    for (const name of names) this.#deleteNow(name);
  }

  async get(name: string, signal?: AbortSignal): Promise<Link | undefined> {
    await this.#enter("get", signal);
    const link = this.#links.get(name);
    return link === undefined ? undefined : { ...link };
  }

  async list(signal?: AbortSignal): Promise<Link[]> {
    await this.#enter("list", signal);
    return this.snapshot();
  }

  async delete(name: string, signal?: AbortSignal): Promise<void> {
    await this.#enter("delete", signal);
    this.#deleteNow(name);
  }

  #deleteNow(name: string): void {
    const link = this.#links.get(name);
    if (link === undefined) return;
    this.drop(name);
    for (const other of this.#links.values()) {
      if (other.master === name) {
        delete other.master;
        delete other.hairpin;
      }
    }
    if (link.kind === "veth" && link.peer !== undefined) {
      const peerSide = this.#pairs.get(name);
      this.#pairs.delete(name);
      if (peerSide !== undefined) {
        peerSide.#pairs.delete(link.peer);
        peerSide.drop(link.peer);
      }
    }
  }
}

/** Method names of Addresses, for `failOn`. */
export type AddressesMethod = keyof Addresses;

/** Addresses held per link name; links must exist in the paired MemoryLinks. */
export class MemoryAddresses implements Addresses {
  readonly #byLink = new Map<string, string[]>();
  readonly #hooks = new FailureHooks<AddressesMethod>();
  readonly #links: MemoryLinks;

  constructor(links: MemoryLinks) {
    this.#links = links;
  }

  failOn(method: AddressesMethod, error: Error, options: FailureOptions = {}): void {
    this.#hooks.arm(method, error, options);
  }

  clearFailures(): void {
    this.#hooks.clear();
  }

  /** Every address by link, for assertions. */
  snapshot(): Record<string, string[]> {
    return Object.fromEntries([...this.#byLink].filter(([, list]) => list.length > 0).map(([k, v]) => [k, [...v]]));
  }

  /** Forgets the addresses of a link that went away. */
  forget(link: string): void {
    this.#byLink.delete(link);
  }

  async #enter(method: AddressesMethod, link: string, signal: AbortSignal | undefined): Promise<string[]> {
    abortCheck(signal, method);
    this.#hooks.check(method);
    if (!this.#links.snapshot().some((l) => l.name === link)) {
      throw new TsnetError("NOT_FOUND", `${method} address: link "${link}": ENODEV`);
    }
    let list = this.#byLink.get(link);
    if (list === undefined) {
      list = [];
      this.#byLink.set(link, list);
    }
    return list;
  }

  async add(link: string, cidr: string, signal?: AbortSignal): Promise<void> {
    const list = await this.#enter("add", link, signal);
    if (!/^[0-9a-fA-F:.]+\/\d{1,3}$/.test(cidr))
      throw new TsnetError("INVALID_ARGUMENT", `add address "${cidr}": EINVAL`);
    if (!list.includes(cidr)) list.push(cidr);
  }

  async remove(link: string, cidr: string, signal?: AbortSignal): Promise<void> {
    abortCheck(signal, "remove");
    this.#hooks.check("remove");
    const list = this.#byLink.get(link);
    if (list === undefined) return;
    const at = list.indexOf(cidr);
    if (at >= 0) list.splice(at, 1);
  }

  async list(link: string, signal?: AbortSignal): Promise<string[]> {
    return [...(await this.#enter("list", link, signal))];
  }
}

/** Method names of Routes, for `failOn`. */
export type RoutesMethod = keyof Routes;

function sameRoute(a: Route, b: Route): boolean {
  return a.destination === b.destination && a.gateway === b.gateway && a.link === b.link;
}

/** The main routing table as a list. Adding a route twice is CONFLICT (EEXIST); removing a missing one NOT_FOUND (ESRCH). */
export class MemoryRoutes implements Routes {
  #routes: Route[] = [];
  readonly #hooks = new FailureHooks<RoutesMethod>();
  readonly #links: MemoryLinks;

  constructor(links: MemoryLinks) {
    this.#links = links;
  }

  failOn(method: RoutesMethod, error: Error, options: FailureOptions = {}): void {
    this.#hooks.arm(method, error, options);
  }

  clearFailures(): void {
    this.#hooks.clear();
  }

  snapshot(): Route[] {
    return this.#routes.map((route) => ({ ...route }));
  }

  /** Drops the routes through a link that went away. */
  forget(link: string): void {
    this.#routes = this.#routes.filter((route) => route.link !== link);
  }

  async add(route: Route, signal?: AbortSignal): Promise<void> {
    abortCheck(signal, "add route");
    this.#hooks.check("add");
    if (route.link !== undefined && !this.#links.snapshot().some((l) => l.name === route.link)) {
      throw new TsnetError("NOT_FOUND", `add route ${route.destination}: link "${route.link}": ENODEV`);
    }
    if (this.#routes.some((r) => r.destination === route.destination)) {
      throw new TsnetError("CONFLICT", `add route ${route.destination}: EEXIST`);
    }
    this.#routes.push({ ...route });
  }

  async remove(route: Route, signal?: AbortSignal): Promise<void> {
    abortCheck(signal, "remove route");
    this.#hooks.check("remove");
    const at = this.#routes.findIndex((r) => sameRoute(r, route) || r.destination === route.destination);
    if (at < 0) throw new TsnetError("NOT_FOUND", `remove route ${route.destination}: ESRCH`);
    this.#routes.splice(at, 1);
  }

  async list(signal?: AbortSignal): Promise<Route[]> {
    abortCheck(signal, "list routes");
    this.#hooks.check("list");
    return this.snapshot();
  }
}

/** One fake network namespace: links, addresses and routes that stay consistent with each other. */
export class MemoryNamespace implements Namespace {
  readonly links: MemoryLinks;
  readonly addresses: MemoryAddresses;
  readonly routes: MemoryRoutes;
  #closed = false;

  constructor(options: MemoryLinksOptions = {}) {
    this.links = new MemoryLinks(options);
    this.addresses = new MemoryAddresses(this.links);
    this.routes = new MemoryRoutes(this.links);
    this.links.onRemove = (name) => {
      this.addresses.forget(name);
      this.routes.forget(name);
    };
  }

  get closed(): boolean {
    return this.#closed;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

/**
 * A set of fake namespaces addressed by path, so `moveToNamespace` and `peerNamespace` land somewhere
 * tests can look. `host.root` is the namespace a driver works in.
 */
export class MemoryHost {
  /** The path under which `root` is registered, for moving links back to it. */
  static readonly ROOT_PATH = "/proc/1/ns/net";
  readonly root: MemoryNamespace;
  readonly #namespaces = new Map<string, MemoryNamespace>();

  constructor(options: MemoryLinksOptions = {}) {
    this.root = this.#wire(new MemoryNamespace(options));
    this.#namespaces.set(MemoryHost.ROOT_PATH, this.root);
  }

  #wire(namespace: MemoryNamespace): MemoryNamespace {
    namespace.links.resolveNamespace = (path) => this.#namespaces.get(path)?.links;
    return namespace;
  }

  /** Creates (or returns) the namespace at `path`. */
  namespace(path: string): MemoryNamespace {
    let namespace = this.#namespaces.get(path);
    if (namespace === undefined) {
      namespace = this.#wire(new MemoryNamespace());
      this.#namespaces.set(path, namespace);
    }
    return namespace;
  }

  /** Removes the namespace at `path` as the kernel does when its last user goes: its veth ends take their peers along. */
  async deleteNamespace(path: string): Promise<void> {
    const namespace = this.#namespaces.get(path);
    if (namespace === undefined || namespace === this.root) return;
    this.#namespaces.delete(path);
    for (const link of namespace.links.snapshot()) await namespace.links.delete(link.name);
  }
}

/** Method names of Firewall, for `failOn`. */
export type FirewallMethod = keyof Firewall;

/** Records the last applied desired state, as the nftables implementation would hold it. */
export class MemoryFirewall implements Firewall {
  #state: FirewallNetwork[] = [];
  #applies = 0;
  readonly #hooks = new FailureHooks<FirewallMethod>();

  failOn(method: FirewallMethod, error: Error, options: FailureOptions = {}): void {
    this.#hooks.arm(method, error, options);
  }

  clearFailures(): void {
    this.#hooks.clear();
  }

  /** The networks of the last successful apply (a copy); `[]` after flush. */
  get state(): FirewallNetwork[] {
    return structuredClone(this.#state);
  }

  /** How many times apply succeeded. */
  get applies(): number {
    return this.#applies;
  }

  /** The state of one network by id, or undefined. */
  network(id: string): FirewallNetwork | undefined {
    const found = this.#state.find((network) => network.id === id);
    return found === undefined ? undefined : structuredClone(found);
  }

  async apply(networks: readonly FirewallNetwork[], signal?: AbortSignal): Promise<void> {
    abortCheck(signal, "apply firewall");
    this.#hooks.check("apply");
    const ids = new Set<string>();
    for (const network of networks) {
      if (ids.has(network.id)) throw new TsnetError("INVALID_ARGUMENT", `apply firewall: network ${network.id} twice`);
      ids.add(network.id);
    }
    this.#state = structuredClone([...networks]);
    this.#applies++;
  }

  async flush(signal?: AbortSignal): Promise<void> {
    abortCheck(signal, "flush firewall");
    this.#hooks.check("flush");
    this.#state = [];
  }
}

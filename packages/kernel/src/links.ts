/**
 * Typed links over rtnetlink. The real implementation (NetlinkLinks) holds one netlink socket per network
 * namespace; `MemoryLinks` in ./testing is the fake that driver unit tests use.
 * Every method takes a signal: the `netlink` package has no timeout of its own.
 * Errors are TsnetErrors (EEXIST → CONFLICT, ENOENT/ENODEV → NOT_FOUND, ...), never raw netlink errors.
 */
interface LinkBase {
  name: string;
  index: number;
  mtu: number;
  up: boolean;
  /** MAC in aa:bb:cc:dd:ee:ff form. */
  macAddress: string;
  /** Name of the bridge this link is enslaved to. */
  master?: string;
  /** Link group (IFLA_GROUP; 0 is the kernel's default). Real kernels report it; fakes may leave it out. */
  group?: number;
  /** For a bridge port: whether hairpin mode is on (frames may leave through the port they came in by). */
  hairpin?: boolean;
}

export type Link =
  | (LinkBase & { kind: "bridge" })
  | (LinkBase & { kind: "veth"; peer?: string })
  | (LinkBase & { kind: "vxlan"; vni: number; port: number })
  | (LinkBase & { kind: "macvlan"; parent?: string })
  | (LinkBase & { kind: "other"; type: string });

export interface VethOptions {
  /** MTU of both ends (Docker does not apply the MTU option itself). */
  mtu: number;
  /** Bridge to enslave the host end to, in the same request. */
  master?: string;
  /** Bring the host end up in the same request (default false). */
  up?: boolean;
  /**
   * With `master`: turn on hairpin mode of the host end's bridge port (default false), as Docker does when its
   * userland proxy is off, so a container reaches its own published port through a host address.
   */
  hairpin?: boolean;
  /** MAC of the host end (default: random, chosen by the kernel). */
  macAddress?: string;
  /** MAC of the peer end (the one that goes into the container). */
  peerMacAddress?: string;
  /** Create the peer directly inside this network namespace (a path such as /var/run/netns/x). */
  peerNamespace?: string;
}

export interface VxlanOptions {
  vni: number;
  port: number;
  mtu: number;
  /** Local underlay address. */
  local?: string;
  /** Underlay device. */
  parent?: string;
}

export interface MacvlanOptions {
  parent: string;
  mode: "bridge" | "private" | "vepa" | "passthru";
  mtu: number;
}

/** Link operations inside one network namespace. */
export interface Links {
  /**
   * The link group this handle stamps on every link it creates (absent: the kernel's default, 0). Drivers use it to
   * tell their own links from another daemon's that carry the same name prefix.
   */
  readonly linkGroup?: number | undefined;
  /** Creates a bridge; an existing bridge of that name counts as success, another kind is CONFLICT. */
  addBridge(
    name: string,
    options: { mtu: number; macAddress?: string; up?: boolean },
    signal?: AbortSignal,
  ): Promise<Link>;
  /**
   * Creates a veth pair; the host end stays in this namespace. With `master`/`up` the host end is enslaved and up
   * in the same request. The same pair already there counts as success; another link of that name is CONFLICT.
   */
  addVethPair(host: string, peer: string, options: VethOptions, signal?: AbortSignal): Promise<void>;
  addVxlan(name: string, options: VxlanOptions, signal?: AbortSignal): Promise<Link>;
  addMacvlan(name: string, options: MacvlanOptions, signal?: AbortSignal): Promise<Link>;
  setMaster(name: string, bridge: string, signal?: AbortSignal): Promise<void>;
  setUp(name: string, signal?: AbortSignal): Promise<void>;
  setMtu(name: string, mtu: number, signal?: AbortSignal): Promise<void>;
  setMacAddress(name: string, macAddress: string, signal?: AbortSignal): Promise<void>;
  /**
   * Moves a link into another namespace, optionally renaming it there and setting its MAC and MTU (in the same
   * request for NetlinkLinks: the kernel applies them after the move).
   */
  moveToNamespace(
    name: string,
    namespacePath: string,
    signal?: AbortSignal,
    options?: { newName?: string; macAddress?: string; mtu?: number },
  ): Promise<void>;
  get(name: string, signal?: AbortSignal): Promise<Link | undefined>;
  list(signal?: AbortSignal): Promise<Link[]>;
  /** Deletes a link; already gone counts as success. */
  delete(name: string, signal?: AbortSignal): Promise<void>;
  /**
   * Optional: deletes many links in one kernel pass (NetlinkLinks: one link group, one RTM_DELLINK). Missing links
   * count as deleted. The link reaper uses it when present.
   */
  deleteMany?(names: readonly string[], signal?: AbortSignal): Promise<void>;
}

/** Addresses (CIDR strings, v4 or v6) on links. */
export interface Addresses {
  /** Adds an address; the same address already present counts as success. */
  add(link: string, cidr: string, signal?: AbortSignal): Promise<void>;
  /** Removes an address; already gone counts as success. */
  remove(link: string, cidr: string, signal?: AbortSignal): Promise<void>;
  list(link: string, signal?: AbortSignal): Promise<string[]>;
}

export interface Route {
  /** CIDR, or "default" / "default6". */
  destination: string;
  gateway?: string;
  link?: string;
}

export interface Routes {
  add(route: Route, signal?: AbortSignal): Promise<void>;
  remove(route: Route, signal?: AbortSignal): Promise<void>;
  /** Every route of the main table, both families. */
  list(signal?: AbortSignal): Promise<Route[]>;
}

/** One network namespace's kernel handle: links, addresses and routes share its socket. */
export interface Namespace {
  links: Links;
  addresses: Addresses;
  routes: Routes;
  close(): Promise<void>;
}

import { execFile } from "node:child_process";
import { TsnetError } from "@tsnet/protocol";
import type { Namespace } from "./links.js";
import { NetlinkAddresses, NetlinkRoutes } from "./netlink-addresses.js";
import { deadline } from "./netlink-error.js";
import { NetlinkLinks } from "./netlink-links.js";
import { NetlinkNeighbours } from "./netlink-neighbours.js";
import { RtSocket } from "./rt-socket.js";

/** A `Namespace` backed by one rtnetlink socket that lives in that namespace. */
export class NetlinkNamespace implements Namespace {
  /** The namespace's path, or undefined for the namespace this process runs in. */
  readonly path: string | undefined;
  readonly links: NetlinkLinks;
  readonly addresses: NetlinkAddresses;
  readonly routes: NetlinkRoutes;
  /** Neighbour (ARP/NDP) and FDB entries: not part of `Namespace`, for drivers that program their own L2. */
  readonly neighbours: NetlinkNeighbours;
  private readonly socket: RtSocket;

  constructor(socket: RtSocket, path: string | undefined, linkGroup?: number) {
    this.socket = socket;
    this.path = path;
    this.links = new NetlinkLinks(socket, linkGroup === undefined ? {} : { linkGroup });
    this.addresses = new NetlinkAddresses(socket);
    this.routes = new NetlinkRoutes(socket);
    this.neighbours = new NetlinkNeighbours(socket);
  }

  async close(): Promise<void> {
    await this.links.close();
    await this.socket.close();
  }
}

export interface OpenNamespaceOptions {
  /** Deadline of each request when the caller passes no signal (default 5000 ms). */
  requestTimeoutMs?: number;
  /** Link group stamped on every link created through this handle (see NetlinkLinksOptions.linkGroup). */
  linkGroup?: number;
}

/**
 * Opens a kernel handle on the current network namespace (no path) or on the one at `path`
 * (`/var/run/netns/NAME`, `/proc/PID/ns/net`). The socket is created inside that namespace (see setns.ts),
 * so every call on the handle acts there. Throws NOT_FOUND when the path cannot be opened.
 *
 * @example
 * const root = await openNamespace();
 * await root.links.addBridge("tsbr-demo", { mtu: 1500, up: true });
 */
export async function openNamespace(path?: string, options: OpenNamespaceOptions = {}): Promise<NetlinkNamespace> {
  return new NetlinkNamespace(RtSocket.open(path, options.requestTimeoutMs), path, options.linkGroup);
}

/** Where `ip netns` keeps named namespaces. */
export function namedNamespacePath(name: string): string {
  return `/var/run/netns/${name}`;
}

function checkNamespaceName(name: string): void {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name) || name === "." || name === "..") {
    throw new TsnetError("INVALID_ARGUMENT", `namespace name "${name}": expected 1-64 of [A-Za-z0-9_.-]`);
  }
}

/** Runs a program (never `ip` on a request path: only for namespace setup, tests and tools). */
export function run(file: string, args: readonly string[], signal?: AbortSignal, input?: string): Promise<string> {
  const bounded = deadline(signal, 10_000);
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { signal: bounded, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error === null) return resolve(stdout);
      const aborted = (error as { name?: string }).name === "AbortError";
      const detail = String(stderr).trim() || error.message;
      reject(
        new TsnetError(aborted ? "UNAVAILABLE" : "INTERNAL", `${file} ${args.join(" ")}: ${detail}`, { cause: error }),
      );
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/**
 * Creates a named network namespace (`ip netns add`, which bind-mounts it under /var/run/netns) and returns its
 * path. An existing one is reused. Setup only: not for a request path.
 */
export async function createNamedNamespace(name: string, signal?: AbortSignal): Promise<string> {
  checkNamespaceName(name);
  try {
    await run("ip", ["netns", "add", name], signal);
  } catch (error) {
    if (!/File exists/.test((error as Error).message)) throw error;
  }
  return namedNamespacePath(name);
}

/** Deletes a named namespace and, with it, every link inside (veth peers too). Missing counts as success. */
export async function deleteNamedNamespace(name: string, signal?: AbortSignal): Promise<void> {
  checkNamespaceName(name);
  try {
    await run("ip", ["netns", "delete", name], signal);
  } catch (error) {
    if (!/No such file|not exist/.test((error as Error).message)) throw error;
  }
}

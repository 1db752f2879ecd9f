/**
 * Host ports for published container ports (`-p`, `-P`), Docker's semantics without its userland proxy:
 * a fixed host port, the first free one of a range (`-p 8000-8010:80`), or with host port 0 (`-P`) the next
 * free one of an ephemeral range, round robin like Docker's portallocator. A port is free when no other
 * tsnet endpoint publishes it on an overlapping address and a test bind on the host succeeds.
 */
import { createSocket } from "node:dgram";
import { createServer } from "node:net";
import type { PortPublish } from "@tsnet/kernel";
import type { PortBinding } from "@tsnet/protocol";
import { TsnetError } from "@tsnet/protocol";
import { parseIp } from "./ip.js";

export type PortProtocolName = "tcp" | "udp" | "sctp";

/** One published port after host port choice. `hostIp` as requested: "" (every address), "0.0.0.0", "::" or an IP. */
export type PublishedPort = { proto: PortProtocolName; hostIp: string; hostPort: number; containerPort: number };

/** Says whether a host port can be bound now: true when free. */
export type PortProbe = (proto: PortProtocolName, hostIp: string, port: number) => Promise<boolean>;

/** Where `-P` ports come from and how a host port is tested. */
export interface HostPortsOptions {
  /** First port of the ephemeral range; Docker's default 49153. */
  start?: number;
  /** Last port of the ephemeral range; Docker's default 65535. */
  end?: number;
  /** Test for "not bound on the host"; default: bind a socket and close it. */
  probe?: PortProbe;
}

/** Docker's default dynamic port range (portallocator DefaultPortRangeStart/End). */
export const DEFAULT_HOST_PORT_RANGE: { start: number; end: number } = { start: 49153, end: 65535 };

const PROTOCOLS: Record<number, PortProtocolName> = { 6: "tcp", 17: "udp", 132: "sctp" };

function families(hostIp: string): Array<4 | 6> {
  if (hostIp === "") return [4, 6];
  return parseIp(hostIp)?.family === 6 ? [6] : [4];
}

function isWildcard(hostIp: string, family: 4 | 6): boolean {
  return hostIp === "" || hostIp === (family === 4 ? "0.0.0.0" : "::");
}

/** Whether two host addresses of the same port collide: a shared family where either is a wildcard or both equal. */
export function hostIpsOverlap(a: string, b: string): boolean {
  return families(a).some(
    (family) => families(b).includes(family) && (isWildcard(a, family) || isWildcard(b, family) || a === b),
  );
}

function listen(start: (done: (error?: NodeJS.ErrnoException) => void) => void): Promise<boolean> {
  return new Promise((resolve) => {
    start((error) => resolve(error === undefined || (error.code !== "EADDRINUSE" && error.code !== "EACCES")));
  });
}

function probeTcp(host: string, port: number, ipv6Only: boolean): Promise<boolean> {
  return listen((done) => {
    const server = createServer();
    server.once("error", (error: NodeJS.ErrnoException) => done(error));
    server.listen({ host, port, exclusive: true, ipv6Only }, () => server.close(() => done()));
  });
}

function probeUdp(host: string, port: number, ipv6Only: boolean): Promise<boolean> {
  return listen((done) => {
    const socket = createSocket({ type: parseIp(host)?.family === 6 ? "udp6" : "udp4", ipv6Only });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      socket.close();
      done(error);
    });
    socket.bind({ address: host, port, exclusive: true }, () => socket.close(() => done()));
  });
}

/**
 * The default probe: binds the port on the host and lets it go. Errors other than EADDRINUSE (no IPv6, an
 * address that is not local) count as free: DNAT needs no local socket. SCTP is not probed.
 */
export const bindProbe: PortProbe = async (proto, hostIp, port) => {
  if (proto === "sctp") return true;
  const probe = proto === "tcp" ? probeTcp : probeUdp;
  if (hostIp === "") return (await probe("::", port, false)) && (await probe("0.0.0.0", port, false));
  return probe(hostIp, port, hostIp === "::");
};

type Held = { owner: string; hostIp: string };

/** Tracks which endpoint holds which host port and picks free ones. */
export class PortAllocator {
  readonly #held = new Map<string, Held[]>();
  readonly #byOwner = new Map<string, PublishedPort[]>();
  readonly #start: number;
  readonly #end: number;
  readonly #probe: PortProbe;
  #last: number;

  constructor(options: HostPortsOptions = {}) {
    this.#start = options.start ?? DEFAULT_HOST_PORT_RANGE.start;
    this.#end = options.end ?? DEFAULT_HOST_PORT_RANGE.end;
    if (
      !(
        Number.isInteger(this.#start) &&
        Number.isInteger(this.#end) &&
        1 <= this.#start &&
        this.#start <= this.#end &&
        this.#end <= 65535
      )
    ) {
      throw new TsnetError(
        "INVALID_ARGUMENT",
        `hostPorts ${this.#start}-${this.#end} is not a port range within 1-65535`,
      );
    }
    this.#probe = options.probe ?? bindProbe;
    this.#last = this.#end;
  }

  /** What `owner` holds now. */
  held(owner: string): PublishedPort[] {
    return [...(this.#byOwner.get(owner) ?? [])];
  }

  #holder(proto: PortProtocolName, hostIp: string, port: number): string | undefined {
    return this.#held.get(`${proto}/${port}`)?.find((held) => hostIpsOverlap(held.hostIp, hostIp))?.owner;
  }

  #take(owner: string, published: PublishedPort): void {
    const key = `${published.proto}/${published.hostPort}`;
    this.#held.set(key, [...(this.#held.get(key) ?? []), { owner, hostIp: published.hostIp }]);
    this.#byOwner.set(owner, [...(this.#byOwner.get(owner) ?? []), published]);
  }

  /** Marks ports as held without checks (start-up, from the store). */
  restore(owner: string, published: readonly PublishedPort[]): void {
    for (const port of published) this.#take(owner, port);
  }

  /** Lets go of everything `owner` holds and returns it. */
  release(owner: string): PublishedPort[] {
    const ports = this.#byOwner.get(owner) ?? [];
    this.#byOwner.delete(owner);
    for (const port of ports) {
      const key = `${port.proto}/${port.hostPort}`;
      const rest = (this.#held.get(key) ?? []).filter((held) => held.owner !== owner);
      if (rest.length === 0) this.#held.delete(key);
      else this.#held.set(key, rest);
    }
    return ports;
  }

  /**
   * Picks and holds a host port for each binding. All or nothing: on error nothing stays held.
   * @param defaultHostIp used for bindings with HostIP "" (`host_binding_ipv4`); "" for every address
   * @param families the address families the endpoint has (a binding on an IPv6 host address needs IPv6)
   * @throws INVALID_ARGUMENT for a malformed binding; CONFLICT naming the port when it is taken; EXHAUSTED when a range is full
   */
  async allocate(
    owner: string,
    bindings: readonly PortBinding[],
    defaultHostIp: string,
    endpointFamilies: ReadonlyArray<4 | 6>,
  ): Promise<PublishedPort[]> {
    const taken: PublishedPort[] = [];
    try {
      for (const binding of bindings)
        taken.push(await this.#allocateOne(owner, binding, defaultHostIp, endpointFamilies));
      return taken;
    } catch (error) {
      this.release(owner);
      throw error;
    }
  }

  async #allocateOne(
    owner: string,
    binding: PortBinding,
    defaultHostIp: string,
    endpointFamilies: ReadonlyArray<4 | 6>,
  ): Promise<PublishedPort> {
    const proto = PROTOCOLS[binding.Proto];
    const what = `port binding ${binding.Port}/${proto ?? binding.Proto}`;
    if (proto === undefined)
      throw new TsnetError("INVALID_ARGUMENT", `${what}: Proto ${binding.Proto} is not 6, 17 or 132`);
    const isPort = (n: number, min: number) => Number.isInteger(n) && n >= min && n <= 65535;
    if (!isPort(binding.Port, 1)) throw new TsnetError("INVALID_ARGUMENT", `${what}: Port is not 1-65535`);
    if (!isPort(binding.HostPort, 0) || !(binding.HostPortEnd === 0 || isPort(binding.HostPortEnd, binding.HostPort))) {
      throw new TsnetError(
        "INVALID_ARGUMENT",
        `${what}: host ports ${binding.HostPort}-${binding.HostPortEnd} are not a range within 0-65535`,
      );
    }
    let hostIp = binding.HostIP === "" ? defaultHostIp : binding.HostIP;
    if (hostIp !== "") {
      const parsed = parseIp(hostIp);
      if (parsed === undefined)
        throw new TsnetError("INVALID_ARGUMENT", `${what}: HostIP ${JSON.stringify(hostIp)} is not an IP address`);
      hostIp = parsed.address;
      if (!endpointFamilies.includes(parsed.family)) {
        throw new TsnetError(
          "INVALID_ARGUMENT",
          `${what}: HostIP ${hostIp} is IPv${parsed.family} but the endpoint has no IPv${parsed.family} address`,
        );
      }
    }
    const where = hostIp === "" ? "" : ` on ${hostIp}`;
    const attempt = async (port: number): Promise<PublishedPort | string> => {
      const holder = this.#holder(proto, hostIp, port);
      if (holder !== undefined)
        return `host port ${port}/${proto}${where} is already published by endpoint ${holder.slice(0, 12)}`;
      const published: PublishedPort = { proto, hostIp, hostPort: port, containerPort: binding.Port };
      this.#take(owner, published); // held before the await so concurrent calls cannot pick it too
      if (await this.#probe(proto, hostIp, port)) return published;
      this.#untake(owner, published);
      return `host port ${port}/${proto}${where} is already in use on the host`;
    };
    if (binding.HostPort !== 0) {
      const end = Math.max(binding.HostPort, binding.HostPortEnd);
      let reason = "";
      for (let port = binding.HostPort; port <= end; port++) {
        const result = await attempt(port);
        if (typeof result !== "string") return result;
        reason = result;
      }
      const range = end === binding.HostPort ? "" : ` (every port of ${binding.HostPort}-${end} is taken)`;
      throw new TsnetError("CONFLICT", `${what}: ${reason}${range}`);
    }
    const size = this.#end - this.#start + 1;
    for (let i = 0; i < size; i++) {
      const port = this.#last >= this.#end ? this.#start : this.#last + 1;
      this.#last = port;
      const result = await attempt(port);
      if (typeof result !== "string") return result;
    }
    throw new TsnetError("EXHAUSTED", `${what}: no free host port in ${this.#start}-${this.#end}`);
  }

  #untake(owner: string, published: PublishedPort): void {
    const key = `${published.proto}/${published.hostPort}`;
    const held = this.#held.get(key) ?? [];
    const at = held.findIndex((entry) => entry.owner === owner && entry.hostIp === published.hostIp);
    if (at >= 0) held.splice(at, 1);
    if (held.length === 0) this.#held.delete(key);
    const mine = this.#byOwner.get(owner) ?? [];
    const index = mine.indexOf(published);
    if (index >= 0) mine.splice(index, 1);
  }
}

/**
 * The firewall entries of an endpoint's published ports: one per address family the host address covers and
 * the endpoint has. Wildcards become "" (every address of the container address's family).
 */
export function toPortPublishes(published: readonly PublishedPort[], ipv4: string, ipv6: string): PortPublish[] {
  const out: PortPublish[] = [];
  for (const port of published) {
    for (const family of families(port.hostIp)) {
      const containerIp = family === 4 ? ipv4 : ipv6;
      if (containerIp === "") continue;
      out.push({
        proto: port.proto,
        hostIp: isWildcard(port.hostIp, family) ? "" : port.hostIp,
        hostPort: port.hostPort,
        containerIp,
        containerPort: port.containerPort,
      });
    }
  }
  return out;
}

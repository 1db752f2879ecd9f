/**
 * Test helpers: a bridge driver over the in-memory kernel, firewall and store, and request builders with
 * Docker's shapes. For this package's tests and for the server's.
 */
import { randomBytes } from "node:crypto";
import { createLinkReaper } from "@tsnet/kernel";
import { MemoryFirewall, MemoryHost, type MemoryNamespace } from "@tsnet/kernel/testing";
import type {
  Awaitable,
  CallContext,
  CreateEndpointRequest,
  CreateNetworkRequest,
  EndpointInterface,
  EndpointOptions,
  IpamData,
  PortBinding,
  TransportPort,
} from "@tsnet/protocol";
import { isTsnetError } from "@tsnet/protocol";
import { MemoryStore } from "@tsnet/store/testing";
import { type BridgeDriver, type BridgeDriverOptions, createBridgeDriver } from "./driver.js";
import { bridgeName } from "./names.js";

/** A bridge driver wired to fakes, with the fakes exposed for assertions. */
export interface MemoryBridge {
  driver: BridgeDriver;
  host: MemoryHost;
  namespace: MemoryNamespace;
  firewall: MemoryFirewall;
  store: MemoryStore;
}

/** A MemoryBridge with one network created through its driver, and that network's id and bridge name. */
export interface MemoryBridgeWithNetwork extends MemoryBridge {
  networkId: string;
  bridgeName: string;
}

/** Creates a network (from `networkRequest(options)`) on `memory`, or on a fresh MemoryBridge. */
export async function withNetwork(
  options: NetworkRequestOptions = {},
  memory?: MemoryBridge,
): Promise<MemoryBridgeWithNetwork> {
  const bridge = memory ?? (await createMemoryBridge());
  const network = networkRequest(options);
  await bridge.driver.createNetwork(network, callContext());
  return { ...bridge, networkId: network.NetworkID, bridgeName: bridgeName(network.NetworkID) };
}

/**
 * Creates a bridge driver over a fresh MemoryHost, MemoryFirewall and MemoryStore (unless given). Host ports
 * count as free (no bind test) unless `hostPorts.probe` says otherwise; the link reaper does not linger.
 */
export async function createMemoryBridge(
  options: Partial<BridgeDriverOptions> & { host?: MemoryHost } = {},
): Promise<MemoryBridge> {
  const host = options.host ?? new MemoryHost();
  const firewall = (options.firewall as MemoryFirewall | undefined) ?? new MemoryFirewall();
  const store = (options.store as MemoryStore | undefined) ?? new MemoryStore();
  const namespace = options.namespace ?? host.root;
  const driver = await createBridgeDriver({
    // No linger: tests drain often, and the fakes have no grace period to share.
    reaper: createLinkReaper(namespace.links, { lingerMs: 0 }),
    ...options,
    namespace,
    firewall,
    store,
    hostPorts: { probe: async () => true, ...options.hostPorts },
  });
  return { driver, host, namespace: host.root, firewall, store };
}

/** A random 64-hex Docker ID. */
export function randomId(): string {
  return randomBytes(32).toString("hex");
}

/** A call context with a 10 s deadline. */
export function callContext(): CallContext {
  return { signal: AbortSignal.timeout(10_000) };
}

export interface NetworkRequestOptions {
  id?: string;
  generic?: Record<string, string>;
  internal?: boolean;
  enableIpv6?: boolean;
  ipv4Data?: IpamData[];
  ipv6Data?: IpamData[];
}

/** A CreateNetwork request as Docker sends it; default subnet 10.99.0.0/24 with gateway 10.99.0.1/24. */
export function networkRequest(options: NetworkRequestOptions = {}): CreateNetworkRequest {
  const ipv6Data = options.ipv6Data ?? [];
  const generic = options.generic ?? {};
  const internal = options.internal ?? false;
  const enableIpv6 = options.enableIpv6 ?? ipv6Data.length > 0;
  return {
    NetworkID: options.id ?? randomId(),
    Options: {
      enableIpv6,
      internal,
      generic,
      raw: {
        "com.docker.network.enable_ipv6": enableIpv6,
        "com.docker.network.generic": generic,
        ...(internal ? { "com.docker.network.internal": true } : {}),
      },
    },
    IPv4Data: options.ipv4Data ?? [
      { AddressSpace: "LocalDefault", Pool: "10.99.0.0/24", Gateway: "10.99.0.1/24", AuxAddresses: {} },
    ],
    IPv6Data: ipv6Data,
  };
}

/** Endpoint/sandbox options with the given port labels. */
export function endpointOptions(portBindings: PortBinding[] = [], exposedPorts: TransportPort[] = []): EndpointOptions {
  return {
    portBindings,
    exposedPorts,
    driverOptions: {},
    raw: { "com.docker.network.portmap": portBindings, "com.docker.network.endpoint.exposedports": exposedPorts },
  };
}

/** A CreateEndpoint request; default address 10.99.0.2/24, no IPv6, no MAC (the driver picks one). */
export function endpointRequest(
  networkId: string,
  iface: Partial<EndpointInterface> = {},
  options: { id?: string; endpointOptions?: EndpointOptions } = {},
): CreateEndpointRequest {
  return {
    NetworkID: networkId,
    EndpointID: options.id ?? randomId(),
    Interface: { Address: "10.99.0.2/24", AddressIPv6: "", MacAddress: "", ...iface },
    Options: options.endpointOptions ?? endpointOptions(),
  };
}

/** A `-p` binding: `{ Proto: 6, Port, HostPort, HostPortEnd: HostPort, HostIP: "", IP: "" }` with overrides. */
export function portBinding(port: number, hostPort: number, overrides: Partial<PortBinding> = {}): PortBinding {
  return { Proto: 6, IP: "", Port: port, HostIP: "", HostPort: hostPort, HostPortEnd: hostPort, ...overrides };
}

/** A predicate for a TsnetError with `code` whose message matches `pattern`. */
export function rejectsWith(code: string, pattern?: RegExp): (error: unknown) => boolean {
  return (error) =>
    isTsnetError(error) && error.code === code && (pattern === undefined || pattern.test(error.message));
}

/** Throws unless `work` rejects with an error that `check` accepts. */
export async function assertRejects(
  work: Awaitable<unknown>,
  check: (error: unknown) => boolean,
  what: string,
): Promise<void> {
  try {
    await work;
  } catch (error) {
    if (!check(error)) throw new Error(`${what}: unexpected error ${String(error)}`, { cause: error });
    return;
  }
  throw new Error(`${what}: did not fail`);
}

/** Names of every link in a fake namespace, sorted. */
export function linkNames(namespace: MemoryNamespace): string[] {
  return namespace.links
    .snapshot()
    .map((link) => link.name)
    .sort();
}

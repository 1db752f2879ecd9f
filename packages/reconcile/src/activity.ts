/**
 * What Docker touched while a reconciliation ran. The reconciler must never release an object Docker is creating
 * or using right now; wrapping the drivers the server serves lets it see every call as it arrives.
 */

import { parseAddress } from "@tsnet/ipam";
import type { CallContext, IpamDriver, NetworkDriver } from "@tsnet/protocol";

/** Store-independent keys of the objects a call names. */
export const activityKey = {
  network: (networkId: string): string => `network:${networkId}`,
  endpoint: (endpointId: string): string => `endpoint:${endpointId}`,
  pool: (poolId: string): string => `pool:${poolId}`,
  /** `address` may carry a prefix length; IPv6 spellings are normalised. */
  address: (poolId: string, address: string): string => `address:${poolId}|${normalizeAddress(address)}`,
};

/** An IP address (a CIDR's prefix length dropped) in one canonical form: `4:<n>` or `6:<n>`; "" stays "". */
export function normalizeAddress(address: string): string {
  const ip = address.split("/")[0] ?? "";
  const parsed = parseAddress(ip);
  return parsed === undefined ? ip : `${parsed.family}:${parsed.value}`;
}

/**
 * Records the keys of objects Docker's calls name while at least one reconciliation is watching. Cheap when nobody
 * watches (one counter test per call).
 */
export class Activity {
  #watchers = 0;
  readonly #touched = new Set<string>();

  /** Starts recording; the returned function stops (and forgets what was recorded once nobody watches). */
  watch(): { touched(key: string): boolean; stop(): void } {
    this.#watchers++;
    let stopped = false;
    return {
      touched: (key) => this.#touched.has(key),
      stop: () => {
        if (stopped) return;
        stopped = true;
        this.#watchers--;
        if (this.#watchers === 0) this.#touched.clear();
      },
    };
  }

  /** Marks objects as touched (no-op while nobody watches). */
  touch(...keys: string[]): void {
    if (this.#watchers === 0) return;
    for (const key of keys) this.#touched.add(key);
  }
}

/**
 * The network driver with every call that names a network or an endpoint recorded in `activity` before it runs.
 * Optional methods stay optional: the server answers 404 for those the driver lacks, as before. `onCapabilities`
 * runs on each GetCapabilities: dockerd sends it right after activating the plugin, once per dockerd process
 * (protocol.md §2.1), so it marks a (re)started dockerd.
 */
export function trackNetworkDriver<T extends NetworkDriver>(
  driver: T,
  activity: Activity,
  hooks: { onCapabilities?: () => void } = {},
): T {
  const touching = [
    "createNetwork",
    "deleteNetwork",
    "createEndpoint",
    "deleteEndpoint",
    "join",
    "leave",
    "programExternalConnectivity",
    "revokeExternalConnectivity",
    "endpointOperInfo",
  ] as const;
  // The wrappers are made once, on an object whose prototype is the driver (its other members show through),
  // rather than by a Proxy trap that makes a closure per call: every plugin call reads its method here.
  const tracked = Object.create(driver) as T;
  const own = tracked as unknown as Record<string, unknown>;
  for (const name of touching) {
    const method = driver[name] as ((request: unknown, context: CallContext) => unknown) | undefined;
    if (typeof method !== "function") continue;
    const names = name === "createNetwork" || name === "deleteNetwork";
    own[name] = (request: { NetworkID?: string; EndpointID?: string }, context: CallContext) => {
      if (names) {
        if (typeof request?.NetworkID === "string") activity.touch(activityKey.network(request.NetworkID));
      } else if (typeof request?.EndpointID === "string") {
        activity.touch(activityKey.endpoint(request.EndpointID));
      }
      return method.call(driver, request, context);
    };
  }
  const onCapabilities = hooks.onCapabilities;
  if (onCapabilities !== undefined) {
    own.getCapabilities = () => {
      onCapabilities();
      return driver.getCapabilities();
    };
  }
  return tracked;
}

/**
 * The IPAM with every pool and address a call names recorded in `activity`: at the request, and (for the pool or
 * address the IPAM chose) at the reply.
 */
export function trackIpamDriver<T extends IpamDriver>(ipam: T, activity: Activity): T {
  return new Proxy(ipam, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== "function") return value;
      const call = (value as (...args: unknown[]) => unknown).bind(target);
      switch (property) {
        case "requestPool":
          return async (request: Parameters<IpamDriver["requestPool"]>[0], context: CallContext) => {
            const reply = await (call(request, context) as ReturnType<IpamDriver["requestPool"]>);
            activity.touch(activityKey.pool(reply.PoolID));
            return reply;
          };
        case "releasePool":
          return (request: Parameters<IpamDriver["releasePool"]>[0], context: CallContext) => {
            if (typeof request?.PoolID === "string") activity.touch(activityKey.pool(request.PoolID));
            return call(request, context);
          };
        case "requestAddress":
          return async (request: Parameters<IpamDriver["requestAddress"]>[0], context: CallContext) => {
            const valid = typeof request?.PoolID === "string" && typeof request.Address === "string";
            if (valid && request.Address !== "") activity.touch(activityKey.address(request.PoolID, request.Address));
            const reply = await (call(request, context) as ReturnType<IpamDriver["requestAddress"]>);
            if (valid) activity.touch(activityKey.address(request.PoolID, reply.Address));
            return reply;
          };
        case "releaseAddress":
          return (request: Parameters<IpamDriver["releaseAddress"]>[0], context: CallContext) => {
            if (typeof request?.PoolID === "string" && typeof request.Address === "string") {
              activity.touch(activityKey.address(request.PoolID, request.Address));
            }
            return call(request, context);
          };
        default:
          return call;
      }
    },
  });
}

/**
 * Reconciliation with Docker: networks, endpoints, pools and addresses tsnet still holds but Docker no longer has
 * (it removed them while the plugin was down, or a call's reply was lost in a crash) are released through the
 * drivers' own calls, so locks, firewall and kernel clean-up work exactly as when Docker asks.
 *
 * Races: an object is released only when (1) it existed before the first look at Docker, (2) Docker lacked it in
 * that look and again in a second look `graceMs` later, and (3) no Docker call named it since the first look began.
 * (1)+(3) exclude everything created or used meanwhile; (2) covers objects half-way through a Docker operation
 * at the first look (an address Docker has requested but whose endpoint it has not stored yet, a plugin call
 * Docker is still retrying after the restart: its retries end within about 15 s, protocol.md §1.4).
 */
import { ENDPOINT_PREFIX, type EndpointRecord, NETWORK_PREFIX, type NetworkRecord } from "@tsnet/bridge";
import type { Ipam } from "@tsnet/ipam";
import { KEYS } from "@tsnet/ipam";
import type { Awaitable, Logger, NetworkDriver } from "@tsnet/protocol";
import { isTsnetError, silentLogger } from "@tsnet/protocol";
import type { Store } from "@tsnet/store";
import { type Activity, activityKey } from "./activity.js";
import type { DockerApi, DockerNetwork } from "./docker-api.js";
import {
  confirmOrphans,
  type DockerView,
  findOrphans,
  type HeldState,
  type Orphans,
  orphanCount,
  usesPlugin,
} from "./plan.js";

/** What a reconciliation with Docker found and did. */
export interface DockerReconcileSummary {
  /** Docker networks that use this plugin (as network or IPAM driver). */
  dockerNetworks: number;
  /** Held objects looked at. */
  checked: { networks: number; endpoints: number; pools: number; addresses: number };
  /** Objects released because Docker no longer has them. */
  released: Orphans;
  /** Objects whose release failed (the error is logged), as `kind:id`. */
  failed: string[];
  durationMs: number;
}

/** What {@link reconcileWithDocker} works on. */
export interface DockerReconcileOptions {
  docker: DockerApi;
  /** The name Docker knows the plugin by (network `Driver` / `IPAM.Driver`). */
  pluginName: string;
  store: Store;
  /** Where the bridge driver keeps endpoint records (its `endpointStore`); default `store`. */
  endpointStore?: Store;
  /** The bridge driver, when served: orphaned networks and endpoints are deleted through it. */
  networkDriver?: Pick<NetworkDriver, "deleteNetwork" | "deleteEndpoint">;
  /** The IPAM, when served: orphaned pools and addresses are released through it. */
  ipam?: Ipam;
  /** Docker's calls, as recorded by the tracking wrappers around the served drivers. */
  activity: Activity;
  logger?: Logger;
  /** Time between the two looks at Docker (default 10 000 ms). */
  graceMs?: number;
  /** Deadline of the whole reconciliation (default: none beyond each call's own 30 s). */
  signal?: AbortSignal;
}

const CALL_TIMEOUT_MS = 30_000;

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function callSignal(outer: AbortSignal | undefined): AbortSignal {
  const timeout = AbortSignal.timeout(CALL_TIMEOUT_MS);
  return outer === undefined ? timeout : AbortSignal.any([outer, timeout]);
}

/** Reads what tsnet holds now: the bridge driver's records and the IPAM's pools and addresses. */
export function readHeldState(
  store: Store,
  ipam: Ipam | undefined,
  withNetworks: boolean,
  endpointStore: Store = store,
): HeldState {
  const held: HeldState = { networks: [], endpoints: [], pools: [], addresses: new Map() };
  if (withNetworks) {
    held.networks = store.list<NetworkRecord>(NETWORK_PREFIX).map(([, record]) => record.id);
    held.endpoints = endpointStore
      .list<EndpointRecord>(ENDPOINT_PREFIX)
      .map(([, record]) => ({ networkId: record.networkId, endpointId: record.id }));
  }
  for (const pool of ipam?.pools() ?? []) {
    held.pools.push(pool);
    const prefix = `${KEYS.address(pool.poolId, "")}`;
    const addresses: Array<{ address: string; gateway: boolean }> = [];
    const entries = store.scan?.<string>(prefix) ?? store.list<string>(prefix);
    for (const [key, kind] of entries) {
      const address = key.slice(prefix.length);
      // A sub-pool's PoolID extends its pool's: its keys share the prefix but carry more slashes.
      if (address.includes("/")) continue;
      addresses.push({ address, gateway: kind === "gateway" });
    }
    held.addresses.set(pool.poolId, addresses);
  }
  return held;
}

async function lookAtDocker(options: DockerReconcileOptions, spaces: DockerView["spaces"]): Promise<DockerView> {
  const signal = callSignal(options.signal);
  const all = await options.docker.listNetworks(signal);
  const ours = all.filter(
    (network) =>
      usesPlugin(network.Driver, options.pluginName) || usesPlugin(network.IPAM?.Driver ?? "", options.pluginName),
  );
  const networks: DockerNetwork[] = [];
  for (const summary of ours) {
    const detailed = await options.docker.inspectNetwork(summary.Id, signal);
    if (detailed !== undefined) networks.push(detailed);
  }
  return { pluginName: options.pluginName, spaces, networks };
}

/**
 * Releases what tsnet holds and Docker does not (see the module comment for the race rules), and logs one
 * summary line.
 * @throws UNAVAILABLE when Docker's API does not answer (nothing was released then); the caller retries later.
 */
export async function reconcileWithDocker(options: DockerReconcileOptions): Promise<DockerReconcileSummary> {
  const started = performance.now();
  const log = (options.logger ?? silentLogger).child({ part: "docker-reconcile" });
  const spaces = (() => {
    const names = options.ipam?.getDefaultAddressSpaces();
    return {
      local: names?.LocalDefaultAddressSpace ?? "LocalDefault",
      global: names?.GlobalDefaultAddressSpace ?? "GlobalDefault",
    };
  })();
  const withNetworks = options.networkDriver !== undefined;
  const watch = options.activity.watch();
  try {
    const heldFirst = readHeldState(options.store, options.ipam, withNetworks, options.endpointStore);
    const firstView = await lookAtDocker(options, spaces);
    const first = findOrphans(heldFirst, firstView);
    let released: Orphans = { networks: [], endpoints: [], pools: [], addresses: [] };
    let dockerNetworks = firstView.networks.length;
    if (orphanCount(first) > 0) {
      log.debug({ candidates: countOf(first) }, "orphan candidates; looking again after the grace period");
      await sleep(options.graceMs ?? 10_000, options.signal);
      const view = await lookAtDocker(options, spaces);
      dockerNetworks = view.networks.length;
      const second = findOrphans(readHeldState(options.store, options.ipam, withNetworks, options.endpointStore), view);
      released = confirmOrphans(first, second, watch.touched);
    }
    const failed = await release(options, released, watch.touched, log);
    const summary: DockerReconcileSummary = {
      dockerNetworks,
      checked: {
        networks: heldFirst.networks.length,
        endpoints: heldFirst.endpoints.length,
        pools: heldFirst.pools.length,
        addresses: [...heldFirst.addresses.values()].reduce((sum, list) => sum + list.length, 0),
      },
      released,
      failed,
      durationMs: Math.round(performance.now() - started),
    };
    log.info(
      {
        dockerNetworks,
        checked: summary.checked,
        released: countOf(released),
        networks: released.networks.map((id) => id.slice(0, 12)),
        endpoints: released.endpoints.map((e) => e.endpointId.slice(0, 12)),
        pools: released.pools,
        addresses: released.addresses.map((a) => `${a.poolId}|${a.address}`),
        failed: failed.length,
        durationMs: summary.durationMs,
      },
      "reconciled with docker",
    );
    return summary;
  } finally {
    watch.stop();
  }
}

function countOf(orphans: Orphans): Record<string, number> {
  return {
    networks: orphans.networks.length,
    endpoints: orphans.endpoints.length,
    pools: orphans.pools.length,
    addresses: orphans.addresses.length,
  };
}

async function release(
  options: DockerReconcileOptions,
  orphans: Orphans,
  touched: (key: string) => boolean,
  log: Logger,
): Promise<string[]> {
  const failed: string[] = [];
  const attempt = async (what: string, work: () => Awaitable<void>) => {
    try {
      await work();
    } catch (error) {
      failed.push(what);
      log.warn({ err: error, what }, "cannot release orphan");
    }
  };
  const { networkDriver, ipam } = options;
  const context = () => ({ signal: callSignal(options.signal) });
  // The touched() checks run in the same tick as the call they guard: a Docker call that arrives later
  // is ordered after the release by the drivers' own locks.
  for (const { networkId, endpointId } of orphans.endpoints) {
    if (networkDriver === undefined || touched(activityKey.endpoint(endpointId))) continue;
    await attempt(`endpoint:${endpointId}`, () =>
      networkDriver.deleteEndpoint({ NetworkID: networkId, EndpointID: endpointId }, context()),
    );
  }
  for (const networkId of orphans.networks) {
    if (networkDriver === undefined || touched(activityKey.network(networkId))) continue;
    await attempt(`network:${networkId}`, () => networkDriver.deleteNetwork({ NetworkID: networkId }, context()));
  }
  for (const { poolId, address } of orphans.addresses) {
    if (ipam === undefined || touched(activityKey.pool(poolId)) || touched(activityKey.address(poolId, address))) {
      continue;
    }
    await attempt(`address:${poolId}|${address}`, () =>
      ipam.releaseAddress({ PoolID: poolId, Address: address }, context()),
    );
  }
  for (const poolId of orphans.pools) {
    if (ipam === undefined || touched(activityKey.pool(poolId))) continue;
    await attempt(`pool:${poolId}`, () => ipam.releasePool({ PoolID: poolId }, context()));
  }
  return failed;
}

/** A reconciliation running in the background. */
export interface BackgroundReconcile {
  /** The first completed summary; undefined when stopped first. */
  readonly done: Promise<DockerReconcileSummary | undefined>;
  /** The last completed summary, if any. */
  readonly last: DockerReconcileSummary | undefined;
  /**
   * Asks for another reconciliation once the current one (if any) ends; requests made meanwhile are coalesced.
   * The daemon calls it when dockerd activates the plugin again (a restarted dockerd, possibly after a crash that
   * sent no teardown calls, protocol.md §5.2).
   */
  request(): void;
  /** Stops retrying and aborts a reconciliation in progress. */
  stop(): Promise<void>;
}

/**
 * Runs {@link reconcileWithDocker} in the background, never delaying the caller (dockerd, starting up, may be
 * waiting for this very plugin before its API answers), retrying while Docker does not answer: after 1 s, then
 * doubling up to `maxRetryMs` (default 30 s), until it succeeds or `stop()` is called. Runs again on `request()`.
 */
export function startDockerReconcile(
  options: Omit<DockerReconcileOptions, "signal"> & { maxRetryMs?: number; firstDelayMs?: number },
): BackgroundReconcile {
  const log = (options.logger ?? silentLogger).child({ part: "docker-reconcile" });
  const controller = new AbortController();
  let last: DockerReconcileSummary | undefined;
  let requested = false;
  let wake: (() => void) | undefined;
  let resolveFirst: (summary: DockerReconcileSummary | undefined) => void = () => {};
  const done = new Promise<DockerReconcileSummary | undefined>((resolve) => {
    resolveFirst = resolve;
  });

  const runOnce = async (): Promise<DockerReconcileSummary | undefined> => {
    let delay = 1_000;
    let reported = false;
    for (;;) {
      try {
        return await reconcileWithDocker({ ...options, signal: controller.signal });
      } catch (error) {
        if (controller.signal.aborted) return undefined;
        if (!reported) {
          reported = true;
          const level = isTsnetError(error) && error.code === "UNAVAILABLE" ? "info" : "warn";
          log[level]({ err: error }, "cannot reconcile with docker yet; retrying");
        }
        await sleep(delay, controller.signal);
        delay = Math.min(delay * 2, options.maxRetryMs ?? 30_000);
      }
    }
  };

  const loop = (async () => {
    try {
      await sleep(options.firstDelayMs ?? 0, controller.signal);
      for (;;) {
        requested = false;
        const summary = await runOnce();
        if (summary === undefined) return;
        last = summary;
        resolveFirst(summary);
        if (!requested) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
        }
        if (controller.signal.aborted) return;
      }
    } catch {
      // aborted while sleeping
    } finally {
      resolveFirst(undefined);
    }
  })();

  return {
    done,
    get last() {
      return last;
    },
    request() {
      requested = true;
      wake?.();
      wake = undefined;
    },
    async stop() {
      controller.abort(new Error("docker reconcile stopped"));
      wake?.();
      wake = undefined;
      await loop;
    },
  };
}

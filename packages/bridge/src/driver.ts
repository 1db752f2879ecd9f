/** createBridgeDriver: the NetworkDriver object, with per-endpoint and per-network serialisation. */
import {
  createLinkReaper,
  createVethPool,
  type Firewall,
  type LinkReaper,
  type Namespace,
  NetlinkLinks,
  type VethPool,
} from "@tsnet/kernel";
import type {
  Awaitable,
  CallContext,
  CapabilitiesResponse,
  CreateEndpointRequest,
  CreateEndpointResponse,
  CreateNetworkRequest,
  DeleteEndpointRequest,
  DeleteNetworkRequest,
  EndpointOperInfoRequest,
  EndpointOperInfoResponse,
  JoinRequest,
  JoinResponse,
  LeaveRequest,
  Logger,
  NetworkDriver,
  ProgramExternalConnectivityRequest,
  RevokeExternalConnectivityRequest,
} from "@tsnet/protocol";
import { isPromiseLike, MAX_MTU, MIN_MTU, silentLogger, TsnetError } from "@tsnet/protocol";
import type { Store } from "@tsnet/store";
import { programExternalConnectivity, revokeExternalConnectivity } from "./connectivity.js";
import type { BridgeDeps } from "./deps.js";
import { createEndpoint, deleteEndpoint, endpointOperInfo, join } from "./endpoints.js";
import { FirewallState } from "./firewall-state.js";
import { KeyedLock } from "./keyed-lock.js";
import { PEER_VETH_PREFIX, POOL_VETH_PREFIX } from "./names.js";
import { createNetwork, deleteNetwork } from "./networks.js";
import { type HostPortsOptions, PortAllocator } from "./ports.js";
import { createReaping } from "./reaping.js";
import { type ReconcileSummary, reconcile } from "./reconcile.js";

export interface BridgeDriverOptions {
  /** The host network namespace the bridges live in (links, addresses, routes). The caller keeps ownership. */
  namespace: Namespace;
  firewall: Firewall;
  /** Shared state; the driver keeps its records under `bridge/`. The caller keeps ownership. */
  store: Store;
  /**
   * Where endpoint records live (default: `store`). An endpoint describes a veth pair, which lives no longer than
   * the running kernel, so a store that survives a crash of the process but not of the host is enough: the daemon
   * gives an LmdbStore with durability "process", whose commits wait for no disk flush, and CreateEndpoint and
   * DeleteEndpoint answer without one. The caller keeps ownership.
   */
  endpointStore?: Store;
  logger?: Logger;
  /** Background link deleter (the kernel package's batched reaper); default: one over `namespace.links`, 50 ms linger. */
  reaper?: LinkReaper;
  /** Ephemeral range and host-port test for published ports. */
  hostPorts?: HostPortsOptions;
  /**
   * Veth pairs made ahead of time per network, already on its bridge and up, so CreateEndpoint sends nothing to
   * the kernel. Default: the kernel package's pool over `namespace.links` when that is the real NetlinkLinks (host
   * ends `tsvq-…`, container ends `tsvp-…`, 4 ready per network), closed by `close()`; `false` for none.
   */
  vethPool?: VethPool | false;
  /** MTU when the network sets none (Docker's daemon default: 1500). */
  defaultMtu?: number;
  /** Reconcile the kernel with the store before returning (default true). */
  reconcile?: boolean;
  /** Deadline of one firewall apply, ms (default 10 000). */
  firewallTimeoutMs?: number;
}

/** The bridge NetworkDriver plus its life cycle. */
export interface BridgeDriver extends NetworkDriver {
  programExternalConnectivity(request: ProgramExternalConnectivityRequest, context: CallContext): Awaitable<void>;
  revokeExternalConnectivity(request: RevokeExternalConnectivityRequest, context: CallContext): Awaitable<void>;
  /** Makes the kernel match the store (see {@link ReconcileSummary}); run while no calls are in flight. */
  reconcile(signal?: AbortSignal): Promise<ReconcileSummary>;
  /** The last reconcile's summary, if any. */
  readonly lastReconcile: ReconcileSummary | undefined;
  /** Resolves when no call, background deletion or firewall apply is in flight. */
  drain(): Promise<void>;
  /** Refuses new calls (UNAVAILABLE), then drains. Does not close the namespace, firewall or store. */
  close(): Promise<void>;
}

const CAPABILITIES: CapabilitiesResponse = { Scope: "local", ConnectivityScope: "local" };

/**
 * Creates the bridge driver over a kernel namespace, a firewall and a store, and (unless told not to)
 * reconciles the kernel with the store first.
 *
 * @throws INVALID_ARGUMENT for a bad `defaultMtu` or `hostPorts`
 * @example
 * const driver = await createBridgeDriver({ namespace, firewall, store });
 * await driver.createNetwork(request, { signal: AbortSignal.timeout(10_000) });
 */
export async function createBridgeDriver(options: BridgeDriverOptions): Promise<BridgeDriver> {
  const log = (options.logger ?? silentLogger).child({ driver: "bridge" });
  const defaultMtu = options.defaultMtu ?? 1500;
  if (!(Number.isInteger(defaultMtu) && defaultMtu >= MIN_MTU && defaultMtu <= MAX_MTU)) {
    throw new TsnetError(
      "INVALID_ARGUMENT",
      `defaultMtu ${defaultMtu} is not an integer from ${MIN_MTU} to ${MAX_MTU}`,
    );
  }
  const ownPool = options.vethPool === undefined && options.namespace.links instanceof NetlinkLinks;
  const vethPool = ownPool
    ? createVethPool(options.namespace.links as NetlinkLinks, {
        hostPrefix: POOL_VETH_PREFIX,
        peerPrefix: PEER_VETH_PREFIX,
        logger: log,
      })
    : options.vethPool || undefined;
  const deps: BridgeDeps = {
    namespace: options.namespace,
    firewall: new FirewallState(options.firewall, options.firewallTimeoutMs ?? 10_000),
    store: options.store,
    endpoints: options.endpointStore ?? options.store,
    log,
    // A 50 ms linger lets a burst of DeleteEndpoints share one kernel pass (one RCU grace period) and keeps
    // deletions from contending, one by one, with the RTM_NEWLINKs of containers starting at the same time.
    reaper: createReaping(
      options.reaper ?? createLinkReaper(options.namespace.links, { logger: log, lingerMs: 50 }),
      options.namespace.links,
      log,
    ),
    ports: new PortAllocator(options.hostPorts),
    defaultMtu,
    vethPool,
    bridges: new Map(),
    subnets: new Map(),
    networks: new Map(),
  };
  const locks = new KeyedLock();
  let active = 0;
  let idle: Array<() => void> = [];
  let closed = false;
  let lastReconcile: ReconcileSummary | undefined;

  /**
   * Runs a call under its key's lock, counted for drain(). A call whose work answers directly (see Awaitable in
   * @tsnet/protocol) returns directly too: on an idle daemon every promise hop is cold code.
   */
  function guarded<T>(key: string | undefined, work: () => Awaitable<T>): Awaitable<T> {
    if (closed) return Promise.reject(new TsnetError("UNAVAILABLE", "bridge driver is closed"));
    active++;
    let answer: Awaitable<T>;
    try {
      answer = key === undefined ? work() : locks.run(key, work);
    } catch (error) {
      settled();
      // failures always come as a rejected promise: only a reply comes directly
      return Promise.reject(error);
    }
    if (!isPromiseLike(answer)) {
      settled();
      return answer;
    }
    return Promise.resolve(answer).finally(settled);
  }
  function settled(): void {
    active--;
    if (active === 0) {
      const waiters = idle;
      idle = [];
      for (const resolve of waiters) resolve();
    }
  }
  const endpointLock = (request: { EndpointID: string }) => `endpoint/${request.EndpointID}`;
  const networkLock = (request: { NetworkID: string }) => `network/${request.NetworkID}`;

  const driver: BridgeDriver = {
    getCapabilities: () => CAPABILITIES,
    createNetwork: (request: CreateNetworkRequest, context: CallContext) =>
      guarded(networkLock(request), () => createNetwork(deps, request, context.signal)),
    deleteNetwork: (request: DeleteNetworkRequest, context: CallContext) =>
      guarded(networkLock(request), () => deleteNetwork(deps, request, context.signal)),
    createEndpoint: (request: CreateEndpointRequest, context: CallContext): Awaitable<CreateEndpointResponse> =>
      guarded(endpointLock(request), () => createEndpoint(deps, request, context)),
    deleteEndpoint: (request: DeleteEndpointRequest, context: CallContext) =>
      guarded(endpointLock(request), () => deleteEndpoint(deps, request, context.signal)),
    endpointOperInfo: (request: EndpointOperInfoRequest): EndpointOperInfoResponse => endpointOperInfo(deps, request),
    join: (request: JoinRequest): Awaitable<JoinResponse> => guarded(endpointLock(request), () => join(deps, request)),
    leave: (request: LeaveRequest): Awaitable<void> => guarded(endpointLock(request), () => {}),
    programExternalConnectivity: (request: ProgramExternalConnectivityRequest, context: CallContext) =>
      guarded(endpointLock(request), () => programExternalConnectivity(deps, request, context.signal)),
    revokeExternalConnectivity: (request: RevokeExternalConnectivityRequest, context: CallContext) =>
      guarded(endpointLock(request), () => revokeExternalConnectivity(deps, request, context.signal)),
    async reconcile(signal?: AbortSignal) {
      lastReconcile = await guarded(undefined, () => reconcile(deps, signal ?? AbortSignal.timeout(60_000)));
      return lastReconcile;
    },
    get lastReconcile() {
      return lastReconcile;
    },
    async drain() {
      if (active > 0) await new Promise<void>((resolve) => idle.push(resolve));
      await deps.firewall.idle();
      await deps.reaper.drain();
    },
    async close() {
      closed = true;
      await driver.drain();
      if (ownPool) await vethPool?.close();
    },
  };
  if (options.reconcile !== false) await driver.reconcile();
  return driver;
}

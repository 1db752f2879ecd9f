/**
 * The one place that decides which drivers the daemon serves: the bridge NetworkDriver and the IPAM, sharing one
 * durable store in the state directory, the host's network namespace and one nftables firewall.
 */
import { createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type BridgeDriver, createBridgeDriver } from "@tsnet/bridge";
import { createIpam, type DefaultPool } from "@tsnet/ipam";
import {
  DEFAULT_FIREWALL_NAMES,
  type FirewallNames,
  type NetlinkNamespace,
  NftFirewall,
  openNamespace,
} from "@tsnet/kernel";
import type { IpamDriver, Logger, NetworkDriver } from "@tsnet/protocol";
import {
  Activity,
  type DockerApi,
  type DockerReconcileSummary,
  dockerSocketPath,
  startDockerReconcile,
  trackIpamDriver,
  trackNetworkDriver,
  UnixDockerApi,
} from "@tsnet/reconcile";
import { type JournalStore, type LmdbStore, openJournalStore, openLmdbStore } from "@tsnet/store";

/** What the daemon serves, and how to release what the drivers hold (store, kernel sockets). */
export interface ComposedDrivers {
  /** The durable store in the state dir: network records, IPAM pools and addresses. */
  store: LmdbStore;
  /** The endpoint records' journal store in `<state dir>/endpoints` (see {@link endpointStoreDirectory}). */
  endpointStore: JournalStore;
  networkDriver?: NetworkDriver;
  ipamDriver?: IpamDriver;
  /** Resolves with what the background reconciliation against Docker's API released, once it ran (undefined when stopped first or disabled). */
  dockerReconcile: Promise<DockerReconcileSummary | undefined>;
  /** The last completed Docker reconciliation, if any. */
  readonly lastDockerReconcile: DockerReconcileSummary | undefined;
  close(): Promise<void>;
}

/** Options of {@link composeDrivers}. */
export interface ComposeOptions {
  stateDir: string;
  logger: Logger;
  /** The name Docker knows the plugin by (`pluginNameOf(socketPath)`); Docker's API names our networks' driver by it. */
  pluginName?: string;
  /** The IPAM's local default pools (dockerd's `--default-address-pool`); default Docker's list. */
  defaultPools?: readonly DefaultPool[];
  /** The bridge MTU of networks that set none; default 1500. */
  defaultMtu?: number;
  /**
   * Reconciliation against Docker's API, in the background after the socket is served. Default: on, over
   * `DOCKER_HOST` (a unix:// one) or /var/run/docker.sock, grace period from `TSNET_RECONCILE_GRACE_MS` or 10 s.
   * `false` turns it off (also when `pluginName` is missing).
   */
  dockerReconcile?: false | { docker?: DockerApi; graceMs?: number; firstDelayMs?: number };
}

/**
 * The firewall's table, chain and comment names for a plugin. Each daemon re-renders its tables whole from its own
 * store, so two daemons on one host (a second plugin name, test daemons beside a real one) sharing one table would
 * wipe each other's accept rules at every start. The plugin named "tsnet" keeps the historical names.
 */
export function firewallNamesFor(pluginName: string | undefined): FirewallNames {
  if (pluginName === undefined || pluginName === "tsnet") return DEFAULT_FIREWALL_NAMES;
  const hex = createHash("sha256").update(pluginName).digest("hex").slice(0, 8);
  // iptables chain names are at most 28 characters; nft table names are free but kept short and stable.
  return { table: `tsnet-${hex}`, chain: `TSNET-${hex.toUpperCase()}`, comment: `tsnet-${hex}` };
}

/**
 * The link group (IFLA_GROUP) stamped on every link this daemon creates, so its start-up reconcile removes only its
 * own strays and never another daemon's bridges and veths (same name prefixes). "tsnet" keeps the kernel's default
 * group 0; other names get a stable group from 0x10000 up (below it sit 0 and the reaper's reserved group).
 */
export function linkGroupFor(pluginName: string | undefined): number | undefined {
  if (pluginName === undefined || pluginName === "tsnet") return undefined;
  const hash = createHash("sha256").update(pluginName).digest().readUInt32BE(0);
  return 0x10000 + (hash % 0x7ffe0000);
}

function graceFromEnvironment(): number | undefined {
  const text = process.env.TSNET_RECONCILE_GRACE_MS;
  if (text === undefined || text === "") return undefined;
  const value = Number(text);
  return Number.isInteger(value) && value >= 0 && value <= 600_000 ? value : undefined;
}

/**
 * Where the bridge driver's endpoint records live: a journal store of their own (@tsnet/store), each commit one
 * write(2) without fsync. An endpoint describes a veth pair, which dies with the running kernel; its record must
 * survive a crash of the daemon (the page cache does), not of the host. So CreateEndpoint and DeleteEndpoint wait
 * for no disk flush, while networks and IPAM allocations, which outlive reboots, stay fsync'd in the state dir's
 * own store.
 */
export function endpointStoreDirectory(stateDir: string): string {
  return join(stateDir, "endpoints");
}

/** How often the firewall checks that a restarted dockerd has not dropped our DOCKER-USER jump. */
const DOCKER_USER_CHECK_MS = 10_000;

/**
 * Opens the state (locking the directory), the kernel and the firewall, then builds both drivers; the bridge
 * driver reconciles the kernel with the stored networks before this returns. Reconciliation against Docker's API
 * (networks, endpoints, pools and addresses Docker removed while the plugin was down) starts in the background and
 * never delays serving: dockerd, starting up, may itself be waiting for this plugin. Whatever was opened is closed
 * again when a later step fails.
 * @throws CONFLICT when another daemon holds the state directory; UNAVAILABLE when state or kernel cannot be opened
 */
export async function composeDrivers(options: ComposeOptions): Promise<ComposedDrivers> {
  const { logger } = options;
  await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
  const undo: Array<() => Promise<void>> = [];
  try {
    const store: LmdbStore = await openLmdbStore({
      directory: options.stateDir,
      logger: logger.child({ part: "store" }),
    });
    undo.push(() => store.close());
    const endpointStore = await openJournalStore({
      directory: endpointStoreDirectory(options.stateDir),
      logger: logger.child({ part: "endpoint-store" }),
    });
    undo.push(() => endpointStore.close());
    const linkGroup = linkGroupFor(options.pluginName);
    const namespace: NetlinkNamespace = await openNamespace(undefined, linkGroup === undefined ? {} : { linkGroup });
    undo.push(() => namespace.close());
    const firewall = new NftFirewall({
      logger: logger.child({ part: "firewall" }),
      names: firewallNamesFor(options.pluginName),
    });
    const ipamDriver = await createIpam({
      store,
      logger: logger.child({ part: "ipam" }),
      ...(options.defaultPools !== undefined ? { defaultPools: options.defaultPools } : {}),
    });
    const networkDriver: BridgeDriver = await createBridgeDriver({
      namespace,
      firewall,
      store,
      endpointStore,
      logger: logger.child({ part: "bridge" }),
      ...(options.defaultMtu !== undefined ? { defaultMtu: options.defaultMtu } : {}),
    });
    undo.push(() => networkDriver.close());
    const stopWatching = firewall.watchDockerUser(DOCKER_USER_CHECK_MS);
    const activity = new Activity();
    const settings = options.dockerReconcile;
    const background =
      settings === false || options.pluginName === undefined
        ? undefined
        : startDockerReconcile({
            docker: settings?.docker ?? new UnixDockerApi(dockerSocketPath(process.env)),
            pluginName: options.pluginName,
            store,
            endpointStore,
            networkDriver,
            ipam: ipamDriver,
            activity,
            logger,
            graceMs: settings?.graceMs ?? graceFromEnvironment() ?? 10_000,
            // Let the caller bind the socket first: the first look at Docker must not race the listen.
            firstDelayMs: settings?.firstDelayMs ?? 100,
          });
    return {
      store,
      endpointStore,
      // dockerd sends GetCapabilities once per dockerd process, right after activating us: a restarted (maybe
      // crashed, so no teardown calls) dockerd is the moment to look again.
      networkDriver: trackNetworkDriver(networkDriver, activity, {
        onCapabilities: () => background?.request(),
      }),
      ipamDriver: trackIpamDriver(ipamDriver, activity),
      dockerReconcile: background?.done ?? Promise.resolve(undefined),
      get lastDockerReconcile() {
        return background?.last;
      },
      async close() {
        stopWatching();
        await background?.stop();
        await runInReverse(undo, logger);
      },
    };
  } catch (error) {
    await runInReverse(undo, logger);
    throw error;
  }
}

async function runInReverse(steps: Array<() => Promise<void>>, logger: Logger): Promise<void> {
  for (const step of steps.reverse()) {
    await step().catch((error: unknown) => logger.warn({ err: error }, "close step failed"));
  }
}

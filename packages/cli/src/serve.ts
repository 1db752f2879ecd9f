/** `tsnet serve`: compose the drivers, serve them on the plugin socket and the admin socket, stop cleanly. */
import { basename, extname } from "node:path";
import { isTsnetError, type Logger } from "@tsnet/protocol";
import { clearStaleSocket, createPluginApp, type ListeningServer, listen } from "@tsnet/server";
import { type AdminServer, listenAdmin } from "./admin.js";
import { type ComposeOptions, composeDrivers } from "./compose.js";
import type { AddressPoolConfig } from "./config.js";
import { RequestMetrics } from "./metrics.js";
import { isIpamView, type StateSources } from "./state-view.js";
import { packageVersion } from "./version.js";

export interface ServeOptions {
  socketPath: string;
  stateDir: string;
  logger: Logger;
  /** Admin socket (mode 0600); absent → no admin socket. */
  adminSocketPath?: string | undefined;
  /**
   * When false (the path is the default, not the user's choice), an admin socket another daemon serves is logged
   * and skipped instead of failing the start: several test daemons share a host. Default true.
   */
  adminSocketRequired?: boolean | undefined;
  /** The name Docker knows the plugin by; default: the socket's file name without `.sock` (v1). */
  pluginName?: string | undefined;
  /** Local default pools for the IPAM (passed to composeDrivers). */
  defaultAddressPools?: readonly AddressPoolConfig[] | undefined;
  /** Default bridge MTU (passed to composeDrivers). */
  mtu?: number | undefined;
  /** The config file the settings came from, for `tsnet status`. */
  configFile?: string | undefined;
  /** Connections still busy this long after stop() begins are cut. Default 4 000 (the CLI force-exits at 5 s). */
  closeTimeoutMs?: number;
}

/** A running daemon. */
export interface Daemon {
  /** The name Docker knows the plugin by: the socket's file name without `.sock`, or the configured name. */
  readonly pluginName: string;
  readonly socketPath: string;
  readonly adminSocketPath: string | undefined;
  /** Request counters and latency histograms (what `/metrics` serves). */
  readonly metrics: RequestMetrics;
  /** Stops accepting, finishes in-flight requests, removes the sockets, closes the drivers' state. */
  stop(): Promise<void>;
}

/** The v1 plugin name dockerd derives from a socket path (protocol.md §1.1). */
export function pluginNameOf(socketPath: string): string {
  const file = basename(socketPath);
  return extname(file) === ".sock" ? file.slice(0, -".sock".length) : file;
}

/**
 * Starts the daemon.
 * @throws CONFLICT when another process serves a socket or holds the state dir; UNAVAILABLE when state or a socket
 * cannot be opened
 */
export async function serve(options: ServeOptions): Promise<Daemon> {
  const pluginName = options.pluginName ?? pluginNameOf(options.socketPath);
  const logger = options.logger.child({ plugin: pluginName });
  const composeOptions: ComposeOptions = {
    stateDir: options.stateDir,
    logger,
    pluginName,
    ...(options.defaultAddressPools !== undefined ? { defaultPools: options.defaultAddressPools } : {}),
    ...(options.mtu !== undefined ? { defaultMtu: options.mtu } : {}),
  };
  // Before the state and the kernel: a daemon already serving this socket must not see its links reconciled away.
  await clearStaleSocket(options.socketPath, logger);
  const drivers = await composeDrivers(composeOptions);
  const metrics = new RequestMetrics();
  let server: ListeningServer | undefined;
  let admin: AdminServer | undefined;
  try {
    const app = createPluginApp({
      networkDriver: drivers.networkDriver,
      ipamDriver: drivers.ipamDriver,
      logger,
      onRequest: (call, status, durationMs) => metrics.record(call, status, durationMs),
    });
    server = await listen(app, options.socketPath, { logger, closeTimeoutMs: options.closeTimeoutMs ?? 4_000 });
    if (options.adminSocketPath !== undefined) {
      const ipam = drivers.ipamDriver;
      const sources: StateSources = {
        store: drivers.store,
        endpoints: drivers.endpointStore,
        ipam: isIpamView(ipam) ? ipam : undefined,
      };
      admin = await listenAdmin({
        version: packageVersion(),
        pluginName,
        socket: options.socketPath,
        adminSocket: options.adminSocketPath,
        stateDir: options.stateDir,
        configFile: options.configFile,
        networkDriver: drivers.networkDriver !== undefined,
        ipamDriver: drivers.ipamDriver !== undefined,
        sources,
        metrics,
        logger: logger.child({ part: "admin" }),
      }).catch((error: unknown) => {
        if (options.adminSocketRequired === false && isTsnetError(error) && error.code === "CONFLICT") {
          logger.warn(
            { adminSocketPath: options.adminSocketPath },
            "admin socket served by another daemon; serving without one",
          );
          return undefined;
        }
        throw error;
      });
    }
  } catch (error) {
    await server?.close().catch(() => {});
    await drivers.close().catch(() => {});
    throw error;
  }
  const plugin = server;
  logger.info(
    {
      socketPath: options.socketPath,
      adminSocketPath: admin?.socketPath,
      stateDir: options.stateDir,
      configFile: options.configFile,
      networkDriver: drivers.networkDriver !== undefined,
      ipamDriver: drivers.ipamDriver !== undefined,
    },
    "serving",
  );
  let stopped: Promise<void> | undefined;
  return {
    pluginName,
    socketPath: options.socketPath,
    adminSocketPath: admin?.socketPath,
    metrics,
    stop(): Promise<void> {
      stopped ??= (async () => {
        await admin?.close();
        await plugin.close();
        await drivers.close();
        logger.info({}, "stopped");
      })();
      return stopped;
    },
  };
}

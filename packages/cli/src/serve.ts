/** `tsnet serve`: compose the drivers, serve them on the plugin socket, stop cleanly. */
import { basename, extname } from "node:path";
import type { Logger } from "@tsnet/protocol";
import { createPluginApp, type ListeningServer, listen } from "@tsnet/server";
import { composeDrivers } from "./compose.js";

export interface ServeOptions {
  socketPath: string;
  stateDir: string;
  logger: Logger;
  /** Connections still busy this long after stop() begins are cut. Default 4 000 (the CLI force-exits at 5 s). */
  closeTimeoutMs?: number;
}

/** A running daemon. */
export interface Daemon {
  /** The name Docker knows the plugin by: the socket's file name without `.sock`. */
  readonly pluginName: string;
  readonly socketPath: string;
  /** Stops accepting, finishes in-flight requests, removes the socket, closes the drivers' state. */
  stop(): Promise<void>;
}

/** The v1 plugin name dockerd derives from a socket path (protocol.md §1.1). */
export function pluginNameOf(socketPath: string): string {
  const file = basename(socketPath);
  return extname(file) === ".sock" ? file.slice(0, -".sock".length) : file;
}

/**
 * Starts the daemon.
 * @throws CONFLICT when another process serves the socket; UNAVAILABLE when state or socket cannot be opened
 */
export async function serve(options: ServeOptions): Promise<Daemon> {
  const pluginName = pluginNameOf(options.socketPath);
  const logger = options.logger.child({ plugin: pluginName });
  const drivers = await composeDrivers({ stateDir: options.stateDir, logger });
  let server: ListeningServer;
  try {
    const app = createPluginApp({ networkDriver: drivers.networkDriver, ipamDriver: drivers.ipamDriver, logger });
    server = await listen(app, options.socketPath, { logger, closeTimeoutMs: options.closeTimeoutMs ?? 4_000 });
  } catch (error) {
    await drivers.close().catch(() => {});
    throw error;
  }
  logger.info(
    {
      socketPath: options.socketPath,
      stateDir: options.stateDir,
      networkDriver: drivers.networkDriver !== undefined,
      ipamDriver: drivers.ipamDriver !== undefined,
    },
    "serving",
  );
  let stopped: Promise<void> | undefined;
  return {
    pluginName,
    socketPath: options.socketPath,
    stop(): Promise<void> {
      stopped ??= (async () => {
        await server.close();
        await drivers.close();
        logger.info({}, "stopped");
      })();
      return stopped;
    },
  };
}

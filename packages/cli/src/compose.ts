/**
 * The one place that decides which drivers the daemon serves. The lead wires @tsnet/store, @tsnet/ipam and
 * @tsnet/bridge in here; until then it serves none, and Plugin.Activate lists [].
 */
import { mkdir } from "node:fs/promises";
import type { IpamDriver, Logger, NetworkDriver } from "@tsnet/protocol";

/** What the daemon serves, and how to release what the drivers hold (store, kernel sockets). */
export interface ComposedDrivers {
  networkDriver?: NetworkDriver;
  ipamDriver?: IpamDriver;
  close(): Promise<void>;
}

/**
 * Builds the drivers from their state directory (created if missing).
 * @throws UNAVAILABLE when the state cannot be opened
 */
export async function composeDrivers(options: { stateDir: string; logger: Logger }): Promise<ComposedDrivers> {
  await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
  options.logger.debug({ stateDir: options.stateDir }, "no drivers composed yet");
  return { close: async () => {} };
}

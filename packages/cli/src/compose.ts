/**
 * The one place that decides which drivers the daemon serves: the bridge NetworkDriver and the IPAM, sharing one
 * durable store in the state directory, the host's network namespace and one nftables firewall.
 */
import { mkdir } from "node:fs/promises";
import { type BridgeDriver, createBridgeDriver } from "@tsnet/bridge";
import { createIpam } from "@tsnet/ipam";
import { type NetlinkNamespace, NftFirewall, openNamespace } from "@tsnet/kernel";
import type { IpamDriver, Logger, NetworkDriver } from "@tsnet/protocol";
import { type LmdbStore, openLmdbStore } from "@tsnet/store";

/** What the daemon serves, and how to release what the drivers hold (store, kernel sockets). */
export interface ComposedDrivers {
  networkDriver?: NetworkDriver;
  ipamDriver?: IpamDriver;
  close(): Promise<void>;
}

/** How often the firewall checks that a restarted dockerd has not dropped our DOCKER-USER jump. */
const DOCKER_USER_CHECK_MS = 10_000;

/**
 * Opens the state (locking the directory), the kernel and the firewall, then builds both drivers; the bridge
 * driver reconciles the kernel with the stored networks before this returns. Whatever was opened is closed again
 * when a later step fails.
 * @throws CONFLICT when another daemon holds the state directory; UNAVAILABLE when state or kernel cannot be opened
 */
export async function composeDrivers(options: { stateDir: string; logger: Logger }): Promise<ComposedDrivers> {
  const { logger } = options;
  await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
  const undo: Array<() => Promise<void>> = [];
  try {
    const store: LmdbStore = await openLmdbStore({ directory: options.stateDir, logger: logger.child({ part: "store" }) });
    undo.push(() => store.close());
    const namespace: NetlinkNamespace = await openNamespace();
    undo.push(() => namespace.close());
    const firewall = new NftFirewall({ logger: logger.child({ part: "firewall" }) });
    const ipamDriver = await createIpam({ store, logger: logger.child({ part: "ipam" }) });
    const networkDriver: BridgeDriver = await createBridgeDriver({
      namespace,
      firewall,
      store,
      logger: logger.child({ part: "bridge" }),
    });
    undo.push(() => networkDriver.close());
    const stopWatching = firewall.watchDockerUser(DOCKER_USER_CHECK_MS);
    return {
      networkDriver,
      ipamDriver,
      async close() {
        stopWatching();
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

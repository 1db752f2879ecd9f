import type { Namespace } from "./links.js";
import { openNamespace } from "./namespace.js";
import type { NetlinkLinks } from "./netlink-links.js";

/**
 * Opens a handle on the namespace at `namespacePath`, runs `work` with it and closes it, also on failure.
 *
 * @example
 * await inNamespaceDo("/var/run/netns/lab-a", (ns) => ns.routes.add({ destination: "default", gateway: "10.9.0.1" }));
 */
export async function inNamespaceDo<T>(namespacePath: string, work: (namespace: Namespace) => Promise<T>): Promise<T> {
  const namespace = await openNamespace(namespacePath);
  try {
    return await work(namespace);
  } finally {
    await namespace.close();
  }
}

/** What Docker's daemon does to an endpoint's container end at SetKey. */
export interface SandboxInterface {
  /** The link in the current namespace to move (the veth peer that CreateEndpoint made). */
  link: string;
  /** Its name inside the sandbox (Docker: `eth` + index; default "eth0"). */
  name?: string;
  /** CIDRs to put on it, v4 and/or v6. */
  addresses: readonly string[];
  macAddress?: string;
  mtu?: number;
  /** IPv4 default gateway (Join's Gateway). */
  gateway?: string;
  /** IPv6 default gateway (Join's GatewayIPv6). */
  gateway6?: string;
}

/**
 * Does what Docker's daemon does with an endpoint at SetKey, without Docker: moves `link` into the namespace at
 * `namespacePath` renamed (eth0) with its MAC and MTU (one request), then inside it brings `lo` and the
 * interface up, adds the addresses and the default routes via the gateways. If a step after the move fails,
 * the moved link is deleted (which deletes its veth peer too) and the error is rethrown.
 * Throws NOT_FOUND (no link / no namespace), CONFLICT (name taken in the namespace), INVALID_ARGUMENT.
 */
export async function attachToNamespace(
  links: NetlinkLinks,
  namespacePath: string,
  sandbox: SandboxInterface,
  signal?: AbortSignal,
): Promise<void> {
  const name = sandbox.name ?? "eth0";
  await links.moveToNamespace(sandbox.link, namespacePath, signal, {
    newName: name,
    ...(sandbox.macAddress === undefined ? {} : { macAddress: sandbox.macAddress }),
    ...(sandbox.mtu === undefined ? {} : { mtu: sandbox.mtu }),
  });
  await inNamespaceDo(namespacePath, async (inside) => {
    try {
      await inside.links.setUp("lo", signal);
      for (const cidr of sandbox.addresses) await inside.addresses.add(name, cidr, signal);
      await inside.links.setUp(name, signal);
      if (sandbox.gateway !== undefined) {
        await inside.routes.add({ destination: "default", gateway: sandbox.gateway }, signal);
      }
      if (sandbox.gateway6 !== undefined) {
        await inside.routes.add({ destination: "default6", gateway: sandbox.gateway6 }, signal);
      }
    } catch (error) {
      await inside.links.delete(name).catch(() => {});
      throw error;
    }
  });
}

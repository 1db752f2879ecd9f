/** `tsnet status`, `tsnet ls`, `tsnet ipam show`: admin-socket answers rendered as tables or JSON. */

import type { DaemonStatus } from "./admin.js";
import { adminJson } from "./admin-client.js";
import { dockerNetworkId } from "./docker-api.js";
import type { NetworkView, PoolDetail, PoolView } from "./state-view.js";
import { formatDuration, renderTable } from "./table.js";

const short = (id: string): string => id.slice(0, 12);

/** `tsnet status` as text. */
export function renderStatus(status: DaemonStatus): string {
  const rows: Array<[string, string]> = [
    ["Plugin", status.pluginName],
    ["Version", status.version],
    ["PID", String(status.pid)],
    ["Uptime", formatDuration(status.uptimeSeconds)],
    ["Socket", status.socket],
    ["Admin socket", status.adminSocket],
    ["State dir", status.stateDir],
    ["Config file", status.configFile ?? "(none)"],
    [
      "Drivers",
      [status.networkDriver ? "NetworkDriver" : "", status.ipamDriver ? "IpamDriver" : ""].filter(Boolean).join(", ") ||
        "(none)",
    ],
    ["Networks", String(status.counts.networks)],
    ["Endpoints", String(status.counts.endpoints)],
    ["Pools", String(status.counts.pools)],
    ["Addresses", String(status.counts.addresses)],
    ["Requests", String(status.requests)],
  ];
  const width = Math.max(...rows.map(([key]) => key.length)) + 1;
  return `${rows.map(([key, value]) => `${`${key}:`.padEnd(width)} ${value}`).join("\n")}\n`;
}

/** `tsnet ls` as text: networks, endpoints, pools. */
export function renderListing(networks: readonly NetworkView[], pools: readonly PoolView[]): string {
  const networkRows = networks.map((network) => [
    short(network.id),
    network.bridge,
    network.subnets.join(",") || "-",
    network.gateways.map((gateway) => gateway.split("/")[0]).join(",") || "-",
    String(network.mtu),
    [network.internal ? "internal" : "", network.icc ? "" : "no-icc", network.masquerade ? "" : "no-masq"]
      .filter(Boolean)
      .join(",") || "-",
    String(network.endpoints.length),
  ]);
  const endpointRows = networks.flatMap((network) =>
    network.endpoints.map((endpoint) => [
      short(endpoint.id),
      short(network.id),
      endpoint.hostVeth,
      [endpoint.address, endpoint.addressIpv6].filter(Boolean).join(",") || "-",
      endpoint.macAddress || "-",
      endpoint.published
        .map((port) => `${port.hostIp || "*"}:${port.hostPort}->${port.containerPort}/${port.proto}`)
        .join(",") || "-",
    ]),
  );
  const poolRows = pools.map((pool) => [
    pool.poolId,
    pool.subPool || "-",
    String(pool.allocated),
    String(pool.free),
    pool.networkIds.map(short).join(",") || "-",
  ]);
  return [
    `NETWORKS\n${renderTable(["NETWORK ID", "BRIDGE", "SUBNETS", "GATEWAYS", "MTU", "FLAGS", "ENDPOINTS"], networkRows)}`,
    `ENDPOINTS\n${renderTable(["ENDPOINT ID", "NETWORK ID", "HOST VETH", "ADDRESSES", "MAC", "PORTS"], endpointRows)}`,
    `POOLS\n${renderTable(["POOL ID", "SUB-POOL", "USED", "FREE", "NETWORKS"], poolRows)}`,
  ].join("\n");
}

/** `tsnet ipam show` as text: each pool, then its allocations. */
export function renderPools(pools: readonly PoolDetail[]): string {
  return pools
    .map((pool) => {
      const head = renderTable(
        ["POOL ID", "SUB-POOL", "USED", "FREE", "NETWORKS"],
        [
          [
            pool.poolId,
            pool.subPool || "-",
            String(pool.allocated),
            String(pool.free),
            pool.networkIds.map(short).join(",") || "-",
          ],
        ],
      );
      const options = Object.entries(pool.options);
      const optionText = options.length > 0 ? `Options: ${options.map(([k, v]) => `${k}=${v}`).join(", ")}\n` : "";
      return `${head}${optionText}ALLOCATED\n${pool.allocations.map((address) => `  ${address}\n`).join("") || "  (none)\n"}`;
    })
    .join("\n");
}

/** Reads status from the admin socket. */
export function fetchStatus(adminSocket: string): Promise<DaemonStatus> {
  return adminJson<DaemonStatus>(adminSocket, "/v1/status");
}

/** Reads networks and pools from the admin socket. */
export async function fetchListing(adminSocket: string): Promise<{ networks: NetworkView[]; pools: PoolView[] }> {
  const [networks, pools] = await Promise.all([
    adminJson<NetworkView[]>(adminSocket, "/v1/networks"),
    adminJson<PoolView[]>(adminSocket, "/v1/pools"),
  ]);
  return { networks, pools };
}

/**
 * The pools of one network. `network` is a NetworkID (prefix), a PoolID or a CIDR; anything else is tried as a
 * Docker network name through the Docker API (the daemon never learns names, protocol.md §7).
 */
export async function fetchPools(adminSocket: string, network: string, dockerSocket: string): Promise<PoolDetail[]> {
  const ask = (query: string) => adminJson<PoolDetail[]>(adminSocket, `/v1/ipam?network=${encodeURIComponent(query)}`);
  try {
    return await ask(network);
  } catch (error) {
    if ((error as { status?: number }).status !== 404) throw error;
    const id = await dockerNetworkId(dockerSocket, network).catch(() => undefined);
    if (id === undefined) throw error;
    return ask(id);
  }
}

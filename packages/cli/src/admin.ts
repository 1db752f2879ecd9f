/**
 * The admin socket: a second unix socket (mode 0600, so root only) with read-only JSON views of the daemon's
 * state, Prometheus metrics, and garbage collection. Requests are validated like plugin calls; a bad one gets a
 * 4xx with `{"error"}` and never affects the daemon.
 */
import { chmod, mkdir, unlink } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect } from "node:net";
import { dirname } from "node:path";
import type { Logger } from "@tsnet/protocol";
import { TsnetError } from "@tsnet/protocol";
import { collectGarbage } from "./gc.js";
import type { Gauge, RequestMetrics } from "./metrics.js";
import { countState, findPools, listNetworks, listPools, type StateSources } from "./state-view.js";

/** What `GET /v1/status` answers. */
export interface DaemonStatus {
  version: string;
  pid: number;
  startedAt: string;
  uptimeSeconds: number;
  pluginName: string;
  socket: string;
  adminSocket: string;
  stateDir: string;
  configFile: string | null;
  networkDriver: boolean;
  ipamDriver: boolean;
  counts: ReturnType<typeof countState>;
  requests: number;
}

/** Everything the admin server reads. */
export interface AdminContext {
  version: string;
  pluginName: string;
  socket: string;
  adminSocket: string;
  stateDir: string;
  configFile: string | undefined;
  networkDriver: boolean;
  ipamDriver: boolean;
  sources: StateSources;
  metrics: RequestMetrics;
  logger: Logger;
}

/** A listening admin socket. */
export interface AdminServer {
  readonly socketPath: string;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The admin API's paths and what each accepts (method, query keys). */
export const ADMIN_ROUTES: ReadonlyArray<{ method: string; path: string; query: readonly string[]; what: string }> = [
  { method: "GET", path: "/v1/status", query: [], what: "version, pid, uptime, plugin name, sockets, counts" },
  { method: "GET", path: "/v1/networks", query: [], what: "networks with their endpoints (bridge records)" },
  { method: "GET", path: "/v1/pools", query: [], what: "IPAM pools with usage" },
  { method: "GET", path: "/v1/ipam", query: ["network"], what: "pools and allocations of one network, PoolID or CIDR" },
  { method: "GET", path: "/metrics", query: [], what: "Prometheus text" },
  { method: "POST", path: "/v1/gc", query: ["apply", "settleMs"], what: "orphans; removes them with apply=true" },
];

function parseQuery(url: URL, allowed: readonly string[]): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [key, value] of url.searchParams) {
    if (!allowed.includes(key)) {
      throw new HttpError(
        400,
        `query parameter "${key}" is not accepted here (accepted: ${allowed.join(", ") || "none"})`,
      );
    }
    if (key in values) throw new HttpError(400, `query parameter "${key}" is given twice`);
    values[key] = value;
  }
  return values;
}

function readBoolean(value: string | undefined, key: string): boolean {
  if (value === undefined || value === "false" || value === "0") return false;
  if (value === "true" || value === "1") return true;
  throw new HttpError(400, `query parameter "${key}" must be true or false, got "${value}"`);
}

function gauges(context: AdminContext): Gauge[] {
  const networks = listNetworks(context.sources);
  const pools = listPools(context.sources, networks);
  return [
    {
      name: "tsnet_networks",
      help: "Networks the bridge driver holds.",
      samples: [{ labels: {}, value: networks.length }],
    },
    {
      name: "tsnet_endpoints",
      help: "Endpoints in use, by network.",
      samples: networks.map((network) => ({
        labels: { network: network.id.slice(0, 12) },
        value: network.endpoints.length,
      })),
    },
    { name: "tsnet_pools", help: "IPAM pools held.", samples: [{ labels: {}, value: pools.length }] },
    {
      name: "tsnet_pool_addresses_allocated",
      help: "Addresses held in a pool (gateway and aux included).",
      samples: pools.map((pool) => ({ labels: { pool: pool.poolId }, value: BigInt(pool.allocated) })),
    },
    {
      name: "tsnet_pool_addresses_free",
      help: "Addresses a request can still get from a pool.",
      samples: pools.map((pool) => ({ labels: { pool: pool.poolId }, value: BigInt(pool.free) })),
    },
  ];
}

function status(context: AdminContext, started: number): DaemonStatus {
  return {
    version: context.version,
    pid: process.pid,
    startedAt: new Date(started).toISOString(),
    uptimeSeconds: Math.round((Date.now() - started) / 1000),
    pluginName: context.pluginName,
    socket: context.socket,
    adminSocket: context.adminSocket,
    stateDir: context.stateDir,
    configFile: context.configFile ?? null,
    networkDriver: context.networkDriver,
    ipamDriver: context.ipamDriver,
    counts: countState(context.sources),
    requests: context.metrics.total,
  };
}

let gcRunning = false;

async function answer(
  context: AdminContext,
  started: number,
  request: IncomingMessage,
): Promise<{ status: number; body: string; type: string }> {
  // concatenated, not resolved: a request target of "//x" must stay a path, not become a host
  let url: URL;
  try {
    url = new URL(`http://admin${request.url?.startsWith("/") ? request.url : "/"}`);
  } catch {
    throw new HttpError(400, "malformed request target");
  }
  const route = ADMIN_ROUTES.find((candidate) => candidate.path === url.pathname);
  if (route === undefined) throw new HttpError(404, `no such admin path "${url.pathname}"`);
  if (request.method !== route.method) throw new HttpError(405, `${url.pathname} takes ${route.method}`);
  const query = parseQuery(url, route.query);
  const json = (value: unknown) => ({ status: 200, body: `${JSON.stringify(value)}\n`, type: "application/json" });
  switch (route.path) {
    case "/v1/status":
      return json(status(context, started));
    case "/v1/networks":
      return json(listNetworks(context.sources));
    case "/v1/pools":
      return json(listPools(context.sources));
    case "/v1/ipam": {
      const network = query.network;
      if (network === undefined || network === "" || network.length > 256) {
        throw new HttpError(400, 'query parameter "network" (a NetworkID prefix, PoolID or CIDR) is required');
      }
      let pools: ReturnType<typeof findPools>;
      try {
        pools = findPools(context.sources, network);
      } catch (error) {
        throw new HttpError(409, (error as Error).message);
      }
      if (pools.length === 0) throw new HttpError(404, `no pool of a network "${network}"`);
      return json(pools);
    }
    case "/metrics":
      return { status: 200, body: context.metrics.render(gauges(context)), type: "text/plain; version=0.0.4" };
    case "/v1/gc": {
      const apply = readBoolean(query.apply, "apply");
      let settleMs: number | undefined;
      if (query.settleMs !== undefined) {
        if (!/^\d{1,5}$/.test(query.settleMs) || Number(query.settleMs) > 60_000) {
          throw new HttpError(400, `query parameter "settleMs" must be 0-60000, got "${query.settleMs}"`);
        }
        settleMs = Number(query.settleMs);
      }
      if (gcRunning) throw new HttpError(409, "a gc is already running");
      gcRunning = true;
      try {
        const report = await collectGarbage(() => listNetworks(context.sources), {
          apply,
          mode: "daemon",
          pluginName: context.pluginName,
          ...(settleMs !== undefined ? { settleMs } : {}),
        });
        if (apply) context.logger.info({ removed: report.removed, failed: report.failed }, "gc");
        return json(report);
      } finally {
        gcRunning = false;
      }
    }
    default:
      throw new HttpError(404, `no such admin path "${url.pathname}"`);
  }
}

/** Whether something answers on a unix socket (a live daemon), as opposed to a stale file. */
function isServed(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Serves the admin API on `context.adminSocket` (parent created mode 0700, socket chmod 0600; a stale socket file is
 * replaced).
 * @throws CONFLICT when another process serves the path; UNAVAILABLE when it cannot listen
 */
export async function listenAdmin(context: AdminContext): Promise<AdminServer> {
  const path = context.adminSocket;
  const started = Date.now();
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  if (await isServed(path)) {
    throw new TsnetError("CONFLICT", `admin socket "${path}" is served by another process`);
  }
  await unlink(path).catch(() => {});
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    // drain any body: the API takes none, and an unread body would stall keep-alive
    request.resume();
    answer(context, started, request).then(
      (reply) => {
        response.writeHead(reply.status, { "content-type": reply.type });
        response.end(reply.body);
      },
      (error: unknown) => {
        const status = error instanceof HttpError ? error.status : 500;
        if (status === 500) context.logger.error({ err: error }, "admin request failed");
        response.writeHead(status, { "content-type": "application/json" });
        response.end(`${JSON.stringify({ error: error instanceof Error ? error.message : String(error) })}\n`);
      },
    );
  });
  server.requestTimeout = 60_000;
  server.headersTimeout = 10_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      // 0600 from the start: no window in which another user could connect
      const mask = process.umask(0o177);
      try {
        server.listen(path, () => {
          server.off("error", reject);
          resolve();
        });
      } finally {
        process.umask(mask);
      }
    });
    await chmod(path, 0o600);
  } catch (error) {
    server.close();
    throw new TsnetError("UNAVAILABLE", `admin socket "${path}": cannot listen: ${String(error)}`, { cause: error });
  }
  let closed: Promise<void> | undefined;
  return {
    socketPath: path,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }).then(() => unlink(path).catch(() => {}));
      return closed;
    },
  };
}

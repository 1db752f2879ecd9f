/**
 * The plugin's HTTP surface as a Hono app: one POST route per protocol call, dispatched through a map built once
 * from @tsnet/protocol's call tables. Knows nothing of bridges or pools; drivers are plain objects.
 */
import type { HttpBindings } from "@hono/node-server";
import {
  ACTIVATE_PATH,
  type ActivateResponse,
  type CallContext,
  type DriverCall,
  IPAM_DRIVER_CALLS,
  type IpamDriver,
  type Logger,
  NETWORK_DRIVER_CALLS,
  type NetworkDriver,
  type PluginInterface,
  silentLogger,
  TsnetError,
} from "@tsnet/protocol";
import type { Context } from "hono";
import { Hono } from "hono";
import { BodyTooLargeError, readIncoming, readRequest } from "./body.js";
import { asTsnetError, errorBody, STATUS } from "./errors.js";

/** Hono environment of the plugin app: Node bindings when served by @hono/node-server, none under `app.request`. */
export interface PluginEnv {
  Bindings: Partial<HttpBindings>;
}

export interface PluginAppOptions {
  /** The NetworkDriver to serve; absent → not listed in Plugin.Activate, its calls answer 404. */
  networkDriver?: NetworkDriver | undefined;
  /** The IpamDriver to serve; absent → not listed in Plugin.Activate, its calls answer 404. */
  ipamDriver?: IpamDriver | undefined;
  /** Gets one line per request; default silent. */
  logger?: Logger | undefined;
  /** Deadline of each handler, in ms (its CallContext.signal aborts then, and the call answers 503). Default 10 000. */
  timeoutMs?: number | undefined;
  /** Largest accepted request body, in bytes. Default 1 MiB. */
  maxBodyBytes?: number | undefined;
}

/** Default handler deadline: well under v2 plugins' 30 s client timeout (protocol.md §1.4). */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Default body cap. Docker's largest request (CreateNetwork with many aux addresses) is a few KiB. */
export const DEFAULT_MAX_BODY_BYTES: number = 1024 * 1024;

const JSON_HEADERS: Record<string, string> = { "content-type": "application/json" };

/** One compiled route: validates, calls the driver, returns the reply and the request (for the log line). */
type Route = (body: unknown, context: CallContext) => Promise<{ request: unknown; response: unknown }>;

function compile<Driver>(
  routes: Map<string, Route>,
  calls: Record<string, DriverCall<Driver, unknown, unknown>>,
  driver: Driver | undefined,
): void {
  if (driver === undefined) return;
  for (const call of Object.values(calls)) {
    routes.set(call.path, (body, context) => call.handle(driver, body, context));
  }
}

function reply(status: number, text: string, extraHeaders?: Record<string, string>): Response {
  return new Response(text, { status, headers: extraHeaders ? { ...JSON_HEADERS, ...extraHeaders } : JSON_HEADERS });
}

function logFields(path: string, request: unknown): Record<string, unknown> {
  const fields: Record<string, unknown> = { call: path.slice(1) };
  if (typeof request === "object" && request !== null) {
    const { NetworkID, EndpointID, PoolID } = request as Record<string, unknown>;
    if (typeof NetworkID === "string") fields.networkId = NetworkID.slice(0, 12);
    if (typeof EndpointID === "string") fields.endpointId = EndpointID.slice(0, 12);
    if (typeof PoolID === "string") fields.poolId = PoolID;
  }
  return fields;
}

/**
 * The CallContext of one request. Its signal (an AbortController plus AbortSignal.any over the client's signal) is
 * only built if the driver reads it: built on every request it cost ~6 µs of server CPU per request. It is a class,
 * not an object literal with a getter: a literal's fresh getter closure gives every request object its own hidden
 * class, which cost ~14 µs per request (36 → 22 µs; measured with bench/serve.bench.ts, 16 connections).
 */
class RequestContext implements CallContext {
  #deadline: AbortController | undefined;
  #signal: AbortSignal | undefined;
  #expired: TsnetError | undefined;
  readonly #clientSignal: () => AbortSignal;

  constructor(clientSignal: () => AbortSignal) {
    this.#clientSignal = clientSignal;
  }

  get signal(): AbortSignal {
    if (this.#signal === undefined) {
      this.#deadline = new AbortController();
      if (this.#expired !== undefined) this.#deadline.abort(this.#expired);
      this.#signal = AbortSignal.any([this.#clientSignal(), this.#deadline.signal]);
    }
    return this.#signal;
  }

  expire(error: TsnetError): void {
    this.#expired = error;
    this.#deadline?.abort(error);
  }
}

/** Races `run` against the deadline; the context's signal aborts at the same moment. */
function withDeadline<T>(
  run: (context: CallContext) => Promise<T>,
  clientSignal: () => AbortSignal,
  timeoutMs: number,
  path: string,
): Promise<T> {
  const context = new RequestContext(clientSignal);
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      const error = new TsnetError("UNAVAILABLE", `${path.slice(1)} timed out after ${timeoutMs} ms`);
      context.expire(error);
      reject(error);
    }, timeoutMs);
    run(context).then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * Builds the plugin app. Every request is a POST of `/Interface.Method`; the reply is 200 with a JSON body (at
 * least `{}`), or the mapped status with `{"Err": msg, "Error": msg}`. The Host header is never read.
 *
 * @example
 * const app = createPluginApp({ ipamDriver, logger });
 * const server = await listen(app, "/run/docker/plugins/tsnet.sock");
 */
export function createPluginApp(options: PluginAppOptions = {}): Hono<PluginEnv> {
  const logger = options.logger ?? silentLogger;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const implemented: PluginInterface[] = [];
  if (options.networkDriver) implemented.push("NetworkDriver");
  if (options.ipamDriver) implemented.push("IpamDriver");
  const activation: ActivateResponse = { Implements: implemented };
  const activateBody = JSON.stringify(activation);

  const routes = new Map<string, Route>();
  compile(
    routes,
    NETWORK_DRIVER_CALLS as unknown as Record<string, DriverCall<NetworkDriver, unknown, unknown>>,
    options.networkDriver,
  );
  compile(
    routes,
    IPAM_DRIVER_CALLS as unknown as Record<string, DriverCall<IpamDriver, unknown, unknown>>,
    options.ipamDriver,
  );
  routes.set(ACTIVATE_PATH, async () => ({ request: undefined, response: activation }));

  const app = new Hono<PluginEnv>();

  // One catch-all handler and a Map lookup: cheaper than the router, and every path answers the same way.
  app.all("*", async (c: Context<PluginEnv>) => {
    const started = performance.now();
    const path = c.req.path;
    let request: unknown;
    let response: Response;
    try {
      if (c.req.method !== "POST") {
        response = reply(405, errorBody(`${c.req.method} is not allowed: plugin calls are POST`), { allow: "POST" });
      } else if (path === ACTIVATE_PATH) {
        response = reply(200, activateBody);
      } else {
        const route = routes.get(path);
        if (route === undefined) {
          response = reply(404, errorBody(`${path.slice(1)} is not a call this plugin implements`));
        } else {
          const text =
            c.env?.incoming !== undefined
              ? await readIncoming(c.env.incoming, maxBodyBytes)
              : await readRequest(c.req.raw, maxBodyBytes);
          let body: unknown;
          if (text.trim() !== "") {
            try {
              body = JSON.parse(text);
            } catch (error) {
              throw new TsnetError(
                "INVALID_ARGUMENT",
                `${path.slice(1)}: request body is not JSON: ${(error as Error).message}`,
              );
            }
          }
          const result = await withDeadline(
            (context) => route(body, context),
            () => c.req.raw.signal,
            timeoutMs,
            path,
          );
          request = result.request;
          response = reply(200, JSON.stringify(result.response ?? {}));
        }
      }
    } catch (thrown) {
      const error = asTsnetError(thrown);
      if (thrown instanceof BodyTooLargeError) {
        // the rest of the body is never read: close the connection instead of draining it
        response = reply(413, errorBody(error.message), { connection: "close" });
      } else {
        response = reply(STATUS[error.code], errorBody(error.message));
      }
      if (error.code === "INTERNAL") {
        logger.error(
          {
            ...logFields(path, request),
            err: error.cause ?? error,
            stack: (error.cause as Error | undefined)?.stack ?? error.stack,
          },
          "request failed",
        );
      }
    }
    const fields = logFields(path, request);
    fields.status = response.status;
    fields.durationMs = Math.round((performance.now() - started) * 1000) / 1000;
    if (response.status >= 500) logger.error(fields, "request");
    else if (response.status >= 400 && response.status !== 404) logger.warn(fields, "request");
    else logger.info(fields, "request");
    return response;
  });
  return app;
}

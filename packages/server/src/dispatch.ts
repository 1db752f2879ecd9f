/**
 * What the plugin answers, independent of the HTTP library: method + path + body in, status + JSON text out.
 * Built once per app from @tsnet/protocol's call tables (a precompiled Map from path to handler). Both the Hono app
 * and listen()'s direct node:http handler call it, so Docker sees the same bytes whichever serves it.
 */
import {
  ACTIVATE_PATH,
  type ActivateResponse,
  type Awaitable,
  andThen,
  type CallContext,
  type DriverCall,
  IPAM_DRIVER_CALLS,
  type IpamDriver,
  isPromiseLike,
  type Logger,
  NETWORK_DRIVER_CALLS,
  type NetworkDriver,
  type PluginInterface,
  silentLogger,
  TsnetError,
} from "@tsnet/protocol";
import { BodyTooLargeError } from "./body.js";
import { asTsnetError, errorBody, STATUS } from "./errors.js";

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
  /**
   * Called once per answered request with the call (`NetworkDriver.Join`, or the path for unknown ones), the
   * status and the duration, e.g. for metrics, once the reply is handed back (in a setImmediate, like the log line).
   * Must not throw (a throw is swallowed).
   */
  onRequest?: ((call: string, status: number, durationMs: number) => void) | undefined;
}

/** Default handler deadline: well under v2 plugins' 30 s client timeout (protocol.md §1.4). */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Default body cap. Docker's largest request (CreateNetwork with many aux addresses) is a few KiB. */
export const DEFAULT_MAX_BODY_BYTES: number = 1024 * 1024;

/** One reply: always JSON. `close` asks the transport to close the connection after it (413: body left unread). */
export interface PluginReply {
  status: number;
  body: string;
  allow?: string;
  close?: boolean;
}

/** What a driver call produced: the validated request (for the log line) and the reply. */
type CallOutcome = { request: unknown; response: unknown };
/** One compiled route: validates, calls the driver, returns the reply and the request (for the log line). */
type Route = (body: unknown, context: CallContext) => Awaitable<CallOutcome>;
/** A request answered: the reply and, when the body was read and valid, the request. */
type Answer = { reply: PluginReply; request?: unknown };

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

/** Whether `text` is empty or JSON whitespace only (Docker's no-argument calls; retries after a drop). */
function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 10 && c !== 13 && c !== 9) return false;
  }
  return true;
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
 * The CallContext of one request. Its signal is only built if the driver reads it: built on every request it cost
 * ~6 µs of server CPU per request. It is one AbortController, aborted by the deadline or by the client's signal
 * through a listener: AbortSignal.any (weak references and a finalization registry) cost ~50 µs on a cold call,
 * most of an endpoint call's handler time. It is a class, not an object literal with a getter: a literal's fresh
 * getter closure gives every request object its own hidden class, which cost ~14 µs per request (36 → 22 µs;
 * measured with bench/serve.bench.ts, 16 connections).
 */
class RequestContext implements CallContext {
  #controller: AbortController | undefined;
  #expired: TsnetError | undefined;
  readonly #clientSignal: () => AbortSignal;

  constructor(clientSignal: () => AbortSignal) {
    this.#clientSignal = clientSignal;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      const controller = new AbortController();
      this.#controller = controller;
      if (this.#expired !== undefined) {
        controller.abort(this.#expired);
      } else {
        const client = this.#clientSignal();
        if (client.aborted) controller.abort(client.reason);
        else client.addEventListener("abort", () => controller.abort(client.reason), { once: true });
      }
    }
    return this.#controller.signal;
  }

  expire(error: TsnetError): void {
    this.#expired = error;
    this.#controller?.abort(error);
  }
}

/** Races a driver call still running against the deadline; the context's signal aborts at the same moment. */
function withDeadline<T>(
  running: PromiseLike<T>,
  context: RequestContext,
  timeoutMs: number,
  path: string,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      const error = new TsnetError("UNAVAILABLE", `${path.slice(1)} timed out after ${timeoutMs} ms`);
      context.expire(error);
      reject(error);
    }, timeoutMs);
    // the listening socket keeps the process alive; a hung handler's deadline must not on its own
    timer.unref();
    running.then(
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

function answerOf(outcome: CallOutcome): Answer {
  return { reply: { status: 200, body: JSON.stringify(outcome.response ?? {}) }, request: outcome.request };
}

/** Answers plugin requests; see PluginAppOptions. Never throws: every failure becomes a reply. */
export class PluginDispatcher {
  readonly #routes = new Map<string, Route>();
  readonly #logger: Logger;
  readonly #timeoutMs: number;
  readonly #activateBody: string;
  readonly #onRequest: PluginAppOptions["onRequest"];
  /** Largest accepted body; transports read at most this many bytes. */
  readonly maxBodyBytes: number;
  /** The interfaces Plugin.Activate lists. */
  readonly implements: readonly PluginInterface[];

  constructor(options: PluginAppOptions = {}) {
    this.#logger = options.logger ?? silentLogger;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#onRequest = options.onRequest;
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    const implemented: PluginInterface[] = [];
    if (options.networkDriver) implemented.push("NetworkDriver");
    if (options.ipamDriver) implemented.push("IpamDriver");
    this.implements = implemented;
    const activation: ActivateResponse = { Implements: implemented };
    this.#activateBody = JSON.stringify(activation);
    compile(
      this.#routes,
      NETWORK_DRIVER_CALLS as unknown as Record<string, DriverCall<NetworkDriver, unknown, unknown>>,
      options.networkDriver,
    );
    compile(
      this.#routes,
      IPAM_DRIVER_CALLS as unknown as Record<string, DriverCall<IpamDriver, unknown, unknown>>,
      options.ipamDriver,
    );
  }

  /**
   * Answers one request. `readBody` reads the whole body (throwing BodyTooLargeError past maxBodyBytes) and is only
   * called for calls that take one; `clientSignal` is only called if the driver reads its context's signal.
   * The reply comes directly, in this turn, when the body was at hand and the driver answered directly (see
   * Awaitable in @tsnet/protocol); otherwise as a promise. Either way it never throws or rejects.
   */
  dispatch(
    method: string,
    path: string,
    readBody: () => Awaitable<string>,
    clientSignal: () => AbortSignal,
  ): Awaitable<PluginReply> {
    const started = performance.now();
    let answer: Awaitable<Answer>;
    try {
      answer = this.#answer(method, path, readBody, clientSignal);
    } catch (thrown) {
      return this.#finish(path, this.#failure(path, thrown), started);
    }
    if (!isPromiseLike(answer)) return this.#finish(path, answer, started);
    return answer.then(
      (settled) => this.#finish(path, settled, started),
      (thrown: unknown) => this.#finish(path, this.#failure(path, thrown), started),
    );
  }

  /** The reply to a request that failed: its status, and an INTERNAL error logged with its stack. */
  #failure(path: string, thrown: unknown): Answer {
    const error = asTsnetError(thrown);
    const reply: PluginReply =
      thrown instanceof BodyTooLargeError
        ? { status: 413, body: errorBody(error.message), close: true }
        : { status: STATUS[error.code], body: errorBody(error.message) };
    if (error.code === "INTERNAL") {
      const cause = error.cause instanceof Error ? error.cause : error;
      this.#logger.error({ ...logFields(path, undefined), err: cause.message, stack: cause.stack }, "request failed");
    }
    return { reply };
  }

  #finish(path: string, answer: Answer, started: number): PluginReply {
    const durationMs = performance.now() - started;
    const { reply, request } = answer;
    // The log line and the metrics hook run once the reply is written (the transports write it in this turn or
    // this turn's microtasks): a log write is a syscall, and Docker's call should not wait for it.
    if (this.#logger !== silentLogger || this.#onRequest !== undefined) {
      setImmediate(() => this.#afterReply(path, request, reply.status, durationMs));
    }
    return reply;
  }

  #answer(
    method: string,
    path: string,
    readBody: () => Awaitable<string>,
    clientSignal: () => AbortSignal,
  ): Awaitable<Answer> {
    if (method !== "POST") {
      return {
        reply: { status: 405, body: errorBody(`${method} is not allowed: plugin calls are POST`), allow: "POST" },
      };
    }
    if (path === ACTIVATE_PATH) return { reply: { status: 200, body: this.#activateBody } };
    const route = this.#routes.get(path);
    if (route === undefined) {
      return { reply: { status: 404, body: errorBody(`${path.slice(1)} is not a call this plugin implements`) } };
    }
    return andThen(readBody(), (text) => this.#call(route, path, text, clientSignal));
  }

  /** Decodes the body and runs the route, under the deadline when the driver's answer is still to come. */
  #call(route: Route, path: string, text: string, clientSignal: () => AbortSignal): Awaitable<Answer> {
    let body: unknown;
    if (!isBlank(text)) {
      try {
        body = JSON.parse(text);
      } catch (error) {
        throw new TsnetError(
          "INVALID_ARGUMENT",
          `${path.slice(1)}: request body is not JSON: ${(error as Error).message}`,
        );
      }
    }
    const context = new RequestContext(clientSignal);
    const outcome = route(body, context);
    return isPromiseLike(outcome)
      ? withDeadline(outcome, context, this.#timeoutMs, path).then(answerOf)
      : answerOf(outcome);
  }

  #afterReply(path: string, request: unknown, status: number, durationMs: number): void {
    if (this.#logger !== silentLogger) this.#log(path, request, status, durationMs);
    if (this.#onRequest !== undefined) {
      try {
        this.#onRequest(path.slice(1), status, durationMs);
      } catch {
        // a metrics hook must never change a reply
      }
    }
  }

  #log(path: string, request: unknown, status: number, durationMs: number): void {
    const fields = logFields(path, request);
    fields.status = status;
    fields.durationMs = Math.round(durationMs * 1000) / 1000;
    // Docker tolerates 404 on Program/Revoke/Discover: routine, not a warning
    if (status >= 500) this.#logger.error(fields, "request");
    else if (status >= 400 && status !== 404) this.#logger.warn(fields, "request");
    else this.#logger.info(fields, "request");
  }
}

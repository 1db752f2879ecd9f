/**
 * The plugin's HTTP surface as a Hono app: every path goes to one PluginDispatcher (a Map from path to handler,
 * built once from @tsnet/protocol's call tables). Knows nothing of bridges or pools; drivers are plain objects.
 */
import type { HttpBindings } from "@hono/node-server";
import type { Context } from "hono";
import { Hono } from "hono";
import { readIncoming, readRequest } from "./body.js";
import { type PluginAppOptions, PluginDispatcher, type PluginReply } from "./dispatch.js";

/** Hono environment of the plugin app: Node bindings when served by @hono/node-server, none under `app.request`. */
export interface PluginEnv {
  Bindings: Partial<HttpBindings>;
}

const DISPATCHERS = new WeakMap<object, PluginDispatcher>();

/** The dispatcher behind an app made by createPluginApp (listen() serves it directly), or undefined. */
export function dispatcherOf(app: object): PluginDispatcher | undefined {
  return DISPATCHERS.get(app);
}

const JSON_HEADERS: Record<string, string> = { "content-type": "application/json" };

/** The reply as a Web Response. */
export function toResponse(reply: PluginReply): Response {
  let headers = JSON_HEADERS;
  if (reply.allow !== undefined || reply.close) {
    headers = { ...JSON_HEADERS };
    if (reply.allow !== undefined) headers.allow = reply.allow;
    if (reply.close) headers.connection = "close";
  }
  return new Response(reply.body, { status: reply.status, headers });
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
  const dispatcher = new PluginDispatcher(options);
  const app = new Hono<PluginEnv>();
  // one catch-all route: the dispatcher's Map lookup decides, so unknown paths and methods answer like known ones
  app.all("*", async (c: Context<PluginEnv>) => {
    const incoming = c.env?.incoming;
    const reply = await dispatcher.dispatch(
      c.req.method,
      c.req.path,
      () =>
        incoming !== undefined
          ? readIncoming(incoming, dispatcher.maxBodyBytes)
          : readRequest(c.req.raw, dispatcher.maxBodyBytes),
      () => c.req.raw.signal,
    );
    return toResponse(reply);
  });
  DISPATCHERS.set(app, dispatcher);
  return app;
}

/**
 * Serves a plugin app on a unix socket, the way dockerd dials v1 plugins (`/run/docker/plugins/NAME.sock`). No TCP.
 */
import { chmod, lstat, mkdir, unlink } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { connect, type Server as NetServer } from "node:net";
import { dirname } from "node:path";
import { getRequestListener } from "@hono/node-server";
import { type Logger, silentLogger, TsnetError } from "@tsnet/protocol";
import type { Hono } from "hono";
import { dispatcherOf, type PluginEnv } from "./app.js";
import { readIncoming } from "./body.js";
import type { PluginDispatcher, PluginReply } from "./dispatch.js";
import { createHttp1Server, type SocketServer } from "./http1.js";

export interface ListenOptions {
  /** A client must send its whole request (headers and body) within this many ms, or is dropped. Default 10 000. */
  requestTimeoutMs?: number | undefined;
  /**
   * Idle keep-alive connections are closed after this many ms; 0 (the default) never closes them. dockerd keeps
   * its connections forever, and Go does not resend a POST whose idle connection the server closed under it: the
   * plugin client's own retry then arrives with an empty body (protocol.md §1.4) and the call fails.
   */
  keepAliveTimeoutMs?: number | undefined;
  /** File mode of the socket. Default 0o660: root and the docker group. */
  mode?: number | undefined;
  /** `close()` destroys connections still busy after this many ms. Default 5 000. */
  closeTimeoutMs?: number | undefined;
  logger?: Logger | undefined;
  /**
   * How requests reach an app made by createPluginApp. "socket" (default): the plugin's own HTTP/1.1 parser on
   * node:net (./http1.ts), the least work per call. "direct": node:http hands requests straight to the dispatcher.
   * "hono": @hono/node-server and the Hono app. Same replies every way. Other apps always use "hono".
   */
  transport?: "socket" | "direct" | "hono" | undefined;
}

/** A listening plugin server. */
export interface ListeningServer {
  readonly socketPath: string;
  /** The listening server: a node:net Server ("socket" transport) or node:http's. */
  readonly server: NetServer;
  /** Stops accepting, lets in-flight requests finish (up to closeTimeoutMs), then removes the socket file. */
  close(): Promise<void>;
}

/**
 * The Host value the adapter sees. dockerd 20.10.0-20.10.25 sends an empty Host, later ones `plugin.moby.localhost`,
 * and hand-written clients a socket path, which the adapter would refuse with 400. Host is never used, so it is
 * replaced before the adapter reads it (protocol.md §1.2, pitfall 15).
 */
const HOST = "plugin.moby.localhost";

/** The path of a request target: origin-form up to `?`, or an absolute-form URL's path; percent-decoded. */
function requestPath(target: string): string {
  let path = target;
  if (path.charCodeAt(0) !== 47) {
    try {
      path = new URL(path).pathname;
    } catch {
      return path;
    }
  }
  const query = path.indexOf("?");
  if (query >= 0) path = path.slice(0, query);
  if (path.includes("%")) {
    try {
      path = decodeURI(path);
    } catch {
      // keep it undecoded: it will not match a call and answers 404
    }
  }
  return path;
}

function writeReply(outgoing: ServerResponse, reply: PluginReply): void {
  if (outgoing.destroyed || outgoing.headersSent) return;
  const headers: Record<string, string | number> = {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(reply.body),
  };
  if (reply.allow !== undefined) headers.allow = reply.allow;
  if (reply.close) headers.connection = "close";
  outgoing.writeHead(reply.status, headers);
  outgoing.end(reply.body);
}

/** Aborts when the client goes away before its reply is written. */
function clientSignalOf(outgoing: ServerResponse): AbortSignal {
  const controller = new AbortController();
  outgoing.once("close", () => {
    if (!outgoing.writableFinished) controller.abort(new TsnetError("UNAVAILABLE", "client went away"));
  });
  return controller.signal;
}

/** node:http handler that serves a dispatcher without the Web Request/Response adapter. */
function directListener(dispatcher: PluginDispatcher, logger: Logger) {
  return (incoming: IncomingMessage, outgoing: ServerResponse): void => {
    let signal: AbortSignal | undefined;
    // The body is a stream here, so the reply always comes as a promise.
    Promise.resolve(
      dispatcher.dispatch(
        incoming.method ?? "GET",
        requestPath(incoming.url ?? "/"),
        () => readIncoming(incoming, dispatcher.maxBodyBytes),
        () => {
          signal ??= clientSignalOf(outgoing);
          return signal;
        },
      ),
    ).then(
      (reply) => writeReply(outgoing, reply),
      (error: unknown) => {
        logger.error({ err: error }, "dispatch failed");
        writeReply(outgoing, {
          status: 500,
          body: JSON.stringify({ Err: "internal error", Error: "internal error" }),
        });
      },
    );
  };
}

/** Whether something accepts connections on the socket: a live server, or a file left by a dead one. */
function isServed(socketPath: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      socket.destroy();
      if (error.code === "ECONNREFUSED" || error.code === "ENOENT") resolve(false);
      else
        reject(
          new TsnetError("UNAVAILABLE", `probing socket "${socketPath}": ${error.code ?? error.message}`, {
            cause: error,
          }),
        );
    });
  });
}

/**
 * Makes `socketPath` free to listen on: nothing there, or a stale socket file (no process accepts on it), which is
 * removed. A daemon calls it before it opens its state or touches the kernel, so a second daemon started on a live
 * socket is refused before it can disturb the first one.
 *
 * @throws CONFLICT when another process serves the socket or the path is not a socket
 */
export async function clearStaleSocket(socketPath: string, logger: Logger = silentLogger): Promise<void> {
  const stat = await lstat(socketPath).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined;
    throw new TsnetError("UNAVAILABLE", `checking "${socketPath}": ${error.code ?? error.message}`, { cause: error });
  });
  if (stat === undefined) return;
  if (!stat.isSocket()) throw new TsnetError("CONFLICT", `"${socketPath}" exists and is not a socket`);
  if (await isServed(socketPath)) {
    throw new TsnetError("CONFLICT", `socket "${socketPath}" is served by another process`);
  }
  logger.info({ socketPath }, "replacing stale socket");
  await unlink(socketPath).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "ENOENT") throw error;
  });
}

/** @hono/node-server's listener, with Host replaced first (see HOST). */
function honoListener(app: Hono<PluginEnv>, logger: Logger) {
  const listener = getRequestListener(app.fetch, {
    hostname: HOST,
    errorHandler: (error) => {
      logger.error({ err: error }, "adapter error");
      return new Response(JSON.stringify({ Err: "internal error", Error: "internal error" }), { status: 500 });
    },
  });
  return (incoming: IncomingMessage, outgoing: ServerResponse): void => {
    incoming.headers.host = HOST;
    void listener(incoming, outgoing);
  };
}

/** node:http's server for the "direct" and "hono" transports, with the same close steps as the socket one. */
function nodeHttpServer(
  handle: (incoming: IncomingMessage, outgoing: ServerResponse) => void,
  requestTimeoutMs: number,
  keepAliveTimeoutMs: number,
  logger: Logger,
): SocketServer {
  let closing = false;
  const server = createServer(
    {
      requestTimeout: requestTimeoutMs,
      headersTimeout: requestTimeoutMs,
      keepAliveTimeout: keepAliveTimeoutMs,
      // HTTP/1.1 requires Host and Node answers 400 without one; Host carries nothing here (protocol.md §1.2)
      requireHostHeader: false,
      // Node checks the two timeouts above on this interval (default 30 s); a stalled client is dropped within
      // requestTimeout + interval
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(requestTimeoutMs / 4))),
    },
    (incoming: IncomingMessage, outgoing: ServerResponse) => {
      if (closing) outgoing.shouldKeepAlive = false;
      handle(incoming, outgoing);
    },
  );
  server.on("clientError", (error: NodeJS.ErrnoException, socket) => {
    logger.warn({ err: error.code ?? error.message }, "client error");
    if (socket.writable && error.code !== "ECONNRESET") {
      const status = error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? "408 Request Timeout" : "400 Bad Request";
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    }
    socket.destroy();
  });
  return {
    server,
    beginClose() {
      closing = true;
      server.closeIdleConnections();
      const sweep = setInterval(() => server.closeIdleConnections(), 25);
      return () => clearInterval(sweep);
    },
    destroyAll: () => server.closeAllConnections(),
  };
}

/**
 * Serves `app` on a unix socket: creates the parent directory, replaces a stale socket file, refuses a socket
 * another process still serves, and sets the socket's mode (0660).
 *
 * @throws CONFLICT when the socket is served by another process or the path is not a socket; UNAVAILABLE when the
 *   socket cannot be created
 */
export async function listen(
  app: Hono<PluginEnv>,
  socketPath: string,
  options: ListenOptions = {},
): Promise<ListeningServer> {
  const logger = options.logger ?? silentLogger;
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  const closeTimeoutMs = options.closeTimeoutMs ?? 5_000;
  await mkdir(dirname(socketPath), { recursive: true });
  await clearStaleSocket(socketPath, logger);

  const dispatcher = dispatcherOf(app);
  const transport = dispatcher === undefined ? "hono" : (options.transport ?? "socket");
  const { server, beginClose, destroyAll } =
    transport === "socket" && dispatcher !== undefined
      ? createHttp1Server(dispatcher, {
          requestTimeoutMs,
          keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 0,
          requestPath,
          logger,
        })
      : nodeHttpServer(
          transport === "direct" && dispatcher !== undefined
            ? directListener(dispatcher, logger)
            : honoListener(app, logger),
          requestTimeoutMs,
          options.keepAliveTimeoutMs ?? 0,
          logger,
        );

  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      server.off("listening", onListening);
      if (error.code === "EADDRINUSE") {
        reject(new TsnetError("CONFLICT", `socket "${socketPath}" is served by another process`, { cause: error }));
      } else {
        reject(
          new TsnetError("UNAVAILABLE", `listening on "${socketPath}": ${error.code ?? error.message}`, {
            cause: error,
          }),
        );
      }
    };
    const onListening = (): void => {
      server.off("error", onError);
      resolve();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(socketPath);
  });
  await chmod(socketPath, options.mode ?? 0o660);
  logger.info({ socketPath }, "listening");

  let closed: Promise<void> | undefined;
  return {
    socketPath,
    server,
    close(): Promise<void> {
      closed ??= (async () => {
        const done = new Promise<void>((resolve) => server.close(() => resolve()));
        // keep-alive connections go idle once their request is answered; each is closed as soon as it does
        const stopClosing = beginClose();
        const force = setTimeout(destroyAll, closeTimeoutMs);
        await done;
        stopClosing();
        clearTimeout(force);
        await unlink(socketPath).catch(() => {});
        logger.info({ socketPath }, "closed");
      })();
      return closed;
    },
  };
}

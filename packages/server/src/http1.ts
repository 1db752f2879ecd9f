/**
 * The plugin socket's own HTTP/1.1 server over `node:net`: just what the plugin protocol uses — request line,
 * headers, a body by Content-Length or chunked, keep-alive, pipelined requests answered in order, Expect:
 * 100-continue — and a PluginReply written as one buffer.
 *
 * Why not node:http: on this kind of machine a plugin call arrives at an idle process, which runs its first request
 * cold (caches lost while it slept). node:http's server side (llhttp callbacks, IncomingMessage/ServerResponse
 * streams, a tick or two until the body's `end`) then costs about 0.2 ms of a 0.45 ms round trip; this parser, a
 * few string scans, about 0.05 ms (bench/serve.bench.ts and the e2e endpoint bench, where create + join gained
 * ~0.3 ms). Everything else — routing, validation, deadlines, error bodies — stays in the PluginDispatcher that
 * the node:http and Hono transports share.
 *
 * Limits: request line and headers at most `maxHeaderBytes` (431 past it), the body at most the dispatcher's cap
 * (413, connection closed), a request must arrive whole within `requestTimeoutMs` (408, connection closed), and
 * anything malformed is 400 with the connection closed. An idle keep-alive connection is kept (dockerd keeps its
 * connections forever) unless `keepAliveTimeoutMs` is set.
 */
import { createServer, type Server, type Socket } from "node:net";
import { isPromiseLike, type Logger, TsnetError } from "@tsnet/protocol";
import { BodyTooLargeError } from "./body.js";
import type { PluginDispatcher, PluginReply } from "./dispatch.js";
import { errorBody } from "./errors.js";

export interface Http1Options {
  /** A request must arrive whole (head and body) within this many ms. */
  requestTimeoutMs: number;
  /** Idle keep-alive connections are closed after this many ms; 0 keeps them. */
  keepAliveTimeoutMs: number;
  /** Largest request line plus headers, in bytes. Default 16 KiB. */
  maxHeaderBytes?: number;
  /** The path the dispatcher sees for a request target (query dropped, percent-decoded). */
  requestPath: (target: string) => string;
  logger: Logger;
}

/** A plugin server (this one or node:http's) plus what listen() needs for an orderly close. */
export interface SocketServer {
  server: Server;
  /** From now on every reply closes its connection, and idle connections are closed at once. Returns a stop. */
  beginClose(): () => void;
  /** Destroys every connection still open (close()'s deadline). */
  destroyAll(): void;
}

const REASONS: Record<number, string> = {
  100: "Continue",
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  413: "Payload Too Large",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

const CRLFCRLF = Buffer.from("\r\n\r\n");
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** One parsed request head. */
interface Head {
  method: string;
  target: string;
  keepAlive: boolean;
  contentLength: number | undefined;
  chunked: boolean;
  expectContinue: boolean;
}

class BadRequest extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Parses the request line and headers (latin1 text, without the final CRLFCRLF). */
function parseHead(text: string): Head {
  const lines = text.split("\r\n");
  const requestLine = lines[0] ?? "";
  const parts = requestLine.split(" ");
  if (parts.length !== 3) throw new BadRequest(400, "malformed request line");
  const [method, target, version] = parts as [string, string, string];
  if (!TOKEN.test(method) || target === "" || !/^HTTP\/1\.[01]$/.test(version)) {
    throw new BadRequest(400, "malformed request line");
  }
  let keepAlive = version === "HTTP/1.1";
  let contentLength: number | undefined;
  let chunked = false;
  let transferEncoding = false;
  let expectContinue = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new BadRequest(400, "malformed header line");
    const name = line.slice(0, colon);
    // No whitespace before the colon (RFC 9112 §5.1), no obsolete line folding.
    if (!TOKEN.test(name)) throw new BadRequest(400, "malformed header name");
    const value = line.slice(colon + 1).trim();
    switch (name.toLowerCase()) {
      case "content-length": {
        if (!/^\d{1,15}$/.test(value)) throw new BadRequest(400, "invalid Content-Length");
        const length = Number(value);
        if (contentLength !== undefined && contentLength !== length)
          throw new BadRequest(400, "conflicting Content-Length");
        contentLength = length;
        break;
      }
      case "transfer-encoding": {
        transferEncoding = true;
        const codings = value
          .toLowerCase()
          .split(",")
          .map((coding) => coding.trim());
        if (codings.length !== 1 || codings[0] !== "chunked") {
          throw new BadRequest(501, `Transfer-Encoding "${value}" is not supported`);
        }
        chunked = true;
        break;
      }
      case "connection": {
        const options = value
          .toLowerCase()
          .split(",")
          .map((option) => option.trim());
        if (options.includes("close")) keepAlive = false;
        else if (options.includes("keep-alive")) keepAlive = true;
        break;
      }
      case "expect":
        if (value.toLowerCase() === "100-continue") expectContinue = true;
        break;
    }
  }
  // Both framings at once is how requests are smuggled past proxies: refuse it (RFC 9112 §6.1).
  if (transferEncoding && contentLength !== undefined) {
    throw new BadRequest(400, "both Transfer-Encoding and Content-Length");
  }
  return { method, target, keepAlive, contentLength, chunked, expectContinue };
}

/**
 * Decodes a chunked body from `buffer`. Returns the body and how many bytes it took, or undefined when more bytes
 * are needed. Trailers are read and ignored.
 */
function decodeChunked(buffer: Buffer, limit: number): { body: Buffer; used: number } | undefined {
  const parts: Buffer[] = [];
  let size = 0;
  let at = 0;
  for (;;) {
    const lineEnd = buffer.indexOf("\r\n", at);
    if (lineEnd < 0) {
      if (buffer.length - at > 1024) throw new BadRequest(400, "malformed chunk size");
      return undefined;
    }
    const sizeText = buffer.toString("latin1", at, lineEnd).split(";")[0]?.trim() ?? "";
    if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) throw new BadRequest(400, "malformed chunk size");
    const chunkSize = Number.parseInt(sizeText, 16);
    at = lineEnd + 2;
    if (chunkSize === 0) {
      // Trailer fields, then an empty line.
      for (;;) {
        const trailerEnd = buffer.indexOf("\r\n", at);
        if (trailerEnd < 0) {
          if (buffer.length - at > 16 * 1024) throw new BadRequest(431, "trailers too large");
          return undefined;
        }
        const empty = trailerEnd === at;
        at = trailerEnd + 2;
        if (empty) return { body: parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts), used: at };
      }
    }
    size += chunkSize;
    if (size > limit) throw new BodyTooLargeError(limit);
    if (buffer.length < at + chunkSize + 2) return undefined;
    if (buffer[at + chunkSize] !== 13 || buffer[at + chunkSize + 1] !== 10) {
      throw new BadRequest(400, "malformed chunk");
    }
    parts.push(buffer.subarray(at, at + chunkSize));
    at += chunkSize + 2;
  }
}

function serialize(reply: PluginReply, close: boolean, withBody: boolean): string {
  let head = `HTTP/1.1 ${reply.status} ${REASONS[reply.status] ?? "Status"}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(reply.body)}\r\n`;
  if (reply.allow !== undefined) head += `allow: ${reply.allow}\r\n`;
  if (close) head += "connection: close\r\n";
  return `${head}\r\n${withBody ? reply.body : ""}`;
}

/** One connection: parses requests in order, answers one at a time. */
class Connection {
  readonly #socket: Socket;
  readonly #dispatcher: PluginDispatcher;
  readonly #options: Http1Options;
  readonly #server: { closing: boolean };
  #buffer: Buffer = Buffer.alloc(0);
  #head: Head | undefined;
  #headEnd = 0;
  #busy = false;
  /** #pump's loop is running (a direct reply leaves the next request to it). */
  #pumping = false;
  #done = false;
  #continued = false;
  /** The client sent FIN: answer what it sent whole, then close (the call in flight is told to stop, see "end"). */
  #peerEnded = false;
  #client: AbortController | undefined;
  #requestTimer: NodeJS.Timeout | undefined;
  #idleTimer: NodeJS.Timeout | undefined;

  constructor(socket: Socket, dispatcher: PluginDispatcher, options: Http1Options, server: { closing: boolean }) {
    this.#socket = socket;
    this.#dispatcher = dispatcher;
    this.#options = options;
    this.#server = server;
    socket.on("data", (chunk: Buffer) => this.#receive(chunk));
    socket.on("error", () => socket.destroy());
    socket.on("end", () => {
      this.#peerEnded = true;
      // As node:http does: a client's FIN aborts the call in flight (dockerd closes a connection it gives up on);
      // the reply is still written should the handler finish anyway.
      this.#client?.abort(new TsnetError("UNAVAILABLE", "client went away"));
      this.#pump();
      this.#finishIfEnded();
    });
    socket.on("close", () => {
      this.#done = true;
      clearTimeout(this.#requestTimer);
      clearTimeout(this.#idleTimer);
      this.#client?.abort(new TsnetError("UNAVAILABLE", "client went away"));
    });
    this.#idle();
  }

  get idle(): boolean {
    return !this.#busy && this.#buffer.length === 0;
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #receive(chunk: Buffer): void {
    if (this.#done) return;
    clearTimeout(this.#idleTimer);
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    if (
      this.#busy &&
      this.#buffer.length > (this.#options.maxHeaderBytes ?? 16 * 1024) + this.#dispatcher.maxBodyBytes
    ) {
      // Pipelined bytes beyond one whole request wait in the kernel until this reply is out.
      this.#socket.pause();
    }
    this.#pump();
    // Usually the request came whole in this read and needs no timer; a part of one starts the clock.
    this.#armRequestTimer();
  }

  /**
   * The next request must arrive whole within requestTimeoutMs of its first byte. Not while one is being answered:
   * a pipelined request waiting behind a slow handler is not late (the clock starts after that reply).
   */
  #armRequestTimer(): void {
    if (this.#busy || this.#requestTimer !== undefined || this.#buffer.length === 0) return;
    this.#requestTimer = setTimeout(
      () => this.#fail(408, "request not received in time"),
      this.#options.requestTimeoutMs,
    );
    this.#requestTimer.unref();
  }

  /**
   * Dispatches the complete requests in the buffer, in order, until one is answered later (or the connection
   * closes). A loop, not a recursion through #reply: requests answered directly (see Awaitable in @tsnet/protocol)
   * are written one after another, however many one read brought.
   */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    let answered = false;
    try {
      while (this.#take()) {
        if (this.#busy || this.#done) break;
        answered = true;
      }
    } finally {
      this.#pumping = false;
    }
    if (answered) this.#afterReply();
  }

  /**
   * Takes the next complete request off the buffer and dispatches it, unless one is being answered. True when it
   * dispatched one.
   */
  #take(): boolean {
    if (this.#busy || this.#done) return false;
    try {
      if (this.#head === undefined) {
        const end = this.#buffer.indexOf(CRLFCRLF);
        const limit = this.#options.maxHeaderBytes ?? 16 * 1024;
        if (end < 0) {
          if (this.#buffer.length > limit) throw new BadRequest(431, "request head too large");
          return false;
        }
        if (end > limit) throw new BadRequest(431, "request head too large");
        this.#head = parseHead(this.#buffer.toString("latin1", 0, end));
        this.#headEnd = end + 4;
        this.#continued = false;
      }
      const head = this.#head;
      const max = this.#dispatcher.maxBodyBytes;
      let body: Buffer;
      let used: number;
      if (head.chunked) {
        const decoded = decodeChunked(this.#buffer.subarray(this.#headEnd), max);
        if (decoded === undefined) {
          this.#askToContinue(head);
          return false;
        }
        body = decoded.body;
        used = this.#headEnd + decoded.used;
      } else {
        const length = head.contentLength ?? 0;
        if (length > max) throw new BodyTooLargeError(max);
        if (this.#buffer.length < this.#headEnd + length) {
          this.#askToContinue(head);
          return false;
        }
        body = this.#buffer.subarray(this.#headEnd, this.#headEnd + length);
        used = this.#headEnd + length;
      }
      this.#head = undefined;
      const text = body.toString("utf8");
      this.#buffer = this.#buffer.subarray(used);
      clearTimeout(this.#requestTimer);
      this.#requestTimer = undefined;
      this.#dispatch(head, text);
      return true;
    } catch (error) {
      if (error instanceof BodyTooLargeError) this.#fail(413, error.message);
      else if (error instanceof BadRequest) this.#fail(error.status, error.message);
      else throw error;
      return false;
    }
  }

  #askToContinue(head: Head): void {
    if (!head.expectContinue || this.#continued) return;
    this.#continued = true;
    this.#socket.write("HTTP/1.1 100 Continue\r\n\r\n");
  }

  #dispatch(head: Head, body: string): void {
    this.#busy = true;
    this.#client = undefined;
    const reply = this.#dispatcher.dispatch(
      head.method,
      this.#options.requestPath(head.target),
      () => body,
      () => {
        if (this.#client === undefined) {
          this.#client = new AbortController();
          if (this.#peerEnded || this.#socket.destroyed) {
            this.#client.abort(new TsnetError("UNAVAILABLE", "client went away"));
          }
        }
        return this.#client.signal;
      },
    );
    // A reply the driver gave directly is written in this same turn (see Awaitable in @tsnet/protocol).
    if (!isPromiseLike(reply)) {
      this.#reply(head, reply);
      return;
    }
    reply.then(
      (settled) => this.#reply(head, settled),
      (error: unknown) => {
        this.#options.logger.error({ err: error }, "dispatch failed");
        this.#reply(head, { status: 500, body: JSON.stringify({ Err: "internal error", Error: "internal error" }) });
      },
    );
  }

  #reply(head: Head, reply: PluginReply): void {
    this.#busy = false;
    if (this.#done) return;
    const close = reply.close === true || !head.keepAlive || this.#server.closing;
    this.#socket.write(serialize(reply, close, head.method !== "HEAD"));
    if (close) {
      this.#done = true;
      this.#socket.end();
      return;
    }
    // Inside #pump's loop (a direct reply): the loop takes the next request, then finishes up once.
    if (!this.#pumping) this.#afterReply();
  }

  /** After a reply: read on, answer what is buffered, then wait (idle) or close (the client sent FIN). */
  #afterReply(): void {
    this.#socket.resume();
    if (this.#buffer.length > 0) {
      this.#pump();
      this.#armRequestTimer();
    }
    if (this.#peerEnded) this.#finishIfEnded();
    else if (!this.#busy) this.#idle();
  }

  /** After the client's FIN, once nothing is being answered: what is left in the buffer can never complete. */
  #finishIfEnded(): void {
    if (this.#busy || this.#done) return;
    this.#done = true;
    clearTimeout(this.#requestTimer);
    this.#socket.end();
  }

  /** Answers an unreadable request with `status` and closes the connection. */
  #fail(status: number, message: string): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#requestTimer);
    if (this.#busy) {
      // A request is being answered: its reply would follow this one out of order, so just drop the connection.
      this.#socket.destroy();
      return;
    }
    this.#options.logger.warn({ status, reason: message }, "client error");
    this.#socket.end(serialize({ status, body: errorBody(message) }, true, true));
  }

  #idle(): void {
    if (this.#server.closing) {
      this.#done = true;
      this.#socket.end();
      return;
    }
    const idleMs = this.#options.keepAliveTimeoutMs;
    if (idleMs > 0) {
      this.#idleTimer = setTimeout(() => {
        if (this.idle) this.#socket.end();
      }, idleMs);
      this.#idleTimer.unref();
    }
  }

  /** Called when the server starts closing: an idle connection goes now, a busy one after its reply. */
  closeIfIdle(): void {
    if (this.idle && !this.#done) {
      this.#done = true;
      this.#socket.end();
    }
  }
}

/** A plugin server on `node:net` answering through `dispatcher`; the caller listens and closes. */
export function createHttp1Server(dispatcher: PluginDispatcher, options: Http1Options): SocketServer {
  const state = { closing: false };
  const connections = new Set<Connection>();
  // Half-open allowed: a client that sends its request and then FIN (`nc -N`) still gets the reply.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    const connection = new Connection(socket, dispatcher, options, state);
    connections.add(connection);
    socket.on("close", () => connections.delete(connection));
  });
  return {
    server,
    beginClose() {
      state.closing = true;
      for (const connection of connections) connection.closeIfIdle();
      return () => {};
    },
    destroyAll() {
      for (const connection of connections) connection.destroy();
    },
  };
}

/**
 * The endpoint bench's plugin clients. Each sends batches of calls on one keep-alive connection, the calls of a batch
 * back to back (each as soon as the previous reply is read, as dockerd sends Join right after CreateEndpoint), and
 * reports when each reply had been read, counted from the start of the batch.
 *
 * - `compiledClient` of `clients/plugin-client.c`: blocking write(2)/read(2) of dockerd's bytes. It adds next to
 *   nothing of its own, so its figures are the daemon's latency (plus the kernel's socket round trip).
 * - `compiledClient` of `clients/go`: Go's net/http, dockerd's own HTTP stack, set up as moby's plugin client is:
 *   what dockerd itself waits, its own cost included.
 * - `leanClient`: dockerd's bytes on a raw node:net connection (the bench's main client until 2026-12).
 * - `nodeHttpClient`: node:http's client (the bench's first client).
 * The compiled clients time each call themselves, so the pipe to them is outside every measurement.
 */
import { execFile, spawn } from "node:child_process";
import { Agent, request } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { dockerRequest } from "@tsnet/server/testing";

/** One reply of a batch. */
export interface Exchange {
  status: number;
  body: string;
  /** Ms from the start of the batch until this reply had been read. */
  atMs: number;
}

/** A plugin client; see the module comment. */
export interface PluginClient {
  /** Sends `calls` ([method, JSON body]) back to back and returns their replies, any status. */
  send(calls: ReadonlyArray<readonly [method: string, body: unknown]>): Promise<Exchange[]>;
  close(): void;
}

/** Sends one call and returns its parsed JSON reply; throws on any status but 200. */
export async function call(client: PluginClient, method: string, body: unknown): Promise<unknown> {
  const [reply] = await client.send([[method, body]]);
  if (reply === undefined || reply.status !== 200) throw new Error(`${method}: ${reply?.status} ${reply?.body}`);
  return reply.body === "" ? {} : JSON.parse(reply.body);
}

/** A client made of one-call-at-a-time `exchange`, timed here. */
function timedInProcess(
  exchange: (method: string, payload: string) => Promise<{ status: number; body: string }>,
  close: () => void,
): PluginClient {
  return {
    async send(calls) {
      const replies: Exchange[] = [];
      const started = performance.now();
      for (const [method, body] of calls) {
        const reply = await exchange(method, `${JSON.stringify(body)}\n`);
        replies.push({ ...reply, atMs: performance.now() - started });
      }
      return replies;
    },
    close,
  };
}

/** node:http's client: one keep-alive socket, JSON bodies, the plugin content type. */
export function nodeHttpClient(socketPath: string): PluginClient {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const exchange = (method: string, payload: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath,
          agent,
          method: "POST",
          path: `/${method}`,
          headers: {
            "Content-Type": "application/vnd.docker.plugins.v1.2+json",
            Accept: "application/vnd.docker.plugins.v1.2+json",
            "Content-Length": Buffer.byteLength(payload),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
        },
      );
      req.on("error", reject);
      req.end(payload);
    });
  return timedInProcess(exchange, () => agent.destroy());
}

/** One HTTP/1.1 response read off a connection. */
interface RawResponse {
  status: number;
  body: Buffer;
  /** Bytes after this response: none, as long as one request at a time is in flight. */
  rest: Buffer;
  /** The server closes the connection after this response (`Connection: close`, or HTTP/1.0 without keep-alive). */
  closes: boolean;
}

const CRLF = "\r\n";
const NOTHING = Buffer.alloc(0);

/**
 * The response at the front of `data`, or undefined while it is incomplete. `ended`: the server has closed the
 * connection, so no more bytes will come (which ends a body that has neither Content-Length nor chunks, and makes
 * any other incomplete response an error). Throws on what it cannot read correctly.
 */
function parseResponse(data: Buffer, ended: boolean): RawResponse | undefined {
  const incomplete = (): undefined => {
    if (ended) throw new Error(`connection closed in the middle of a response (${data.length} bytes received)`);
    return undefined;
  };
  const headEnd = data.indexOf(CRLF + CRLF);
  if (headEnd < 0) return incomplete();
  const [statusLine = "", ...fieldLines] = data.toString("latin1", 0, headEnd).split(CRLF);
  const statusMatch = /^HTTP\/1\.([01]) (\d{3})(?: |$)/.exec(statusLine);
  if (statusMatch === null) throw new Error(`not an HTTP/1.x status line: ${JSON.stringify(statusLine)}`);
  const status = Number(statusMatch[2]);
  const headers = new Map<string, string>();
  for (const line of fieldLines) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`malformed header line: ${JSON.stringify(line)}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const earlier = headers.get(name);
    headers.set(name, earlier === undefined ? value : `${earlier}, ${value}`);
  }
  const bodyStart = headEnd + 4;
  // 1xx (e.g. 103 Early Hints) is an interim response: the real one follows
  if (status < 200) return parseResponse(data.subarray(bodyStart), ended);
  const connection = (headers.get("connection") ?? "").toLowerCase();
  const closes = connection.includes("close") || (statusMatch[1] === "0" && !connection.includes("keep-alive"));
  const framed = (body: Buffer, end: number): RawResponse => ({ status, body, rest: data.subarray(end), closes });

  if (status === 204 || status === 304) return framed(NOTHING, bodyStart);
  const transferEncoding = headers.get("transfer-encoding");
  if (transferEncoding !== undefined) {
    if (transferEncoding.toLowerCase() !== "chunked") {
      throw new Error(`Transfer-Encoding ${JSON.stringify(transferEncoding)} is not handled`);
    }
    const chunked = readChunks(data, bodyStart);
    return chunked === undefined ? incomplete() : framed(chunked.body, chunked.end);
  }
  const contentLength = headers.get("content-length");
  if (contentLength !== undefined) {
    if (!/^\d+$/.test(contentLength)) throw new Error(`bad Content-Length: ${JSON.stringify(contentLength)}`);
    const end = bodyStart + Number(contentLength);
    return data.length < end ? incomplete() : framed(data.subarray(bodyStart, end), end);
  }
  // neither: the body runs until the server closes the connection (RFC 9112 §6.3)
  return ended ? { status, body: data.subarray(bodyStart), rest: NOTHING, closes: true } : undefined;
}

/** A chunked body starting at `start` (chunks, the last-chunk, trailer fields, empty line); undefined if incomplete. */
function readChunks(data: Buffer, start: number): { body: Buffer; end: number } | undefined {
  const chunks: Buffer[] = [];
  let at = start;
  for (;;) {
    const lineEnd = data.indexOf(CRLF, at);
    if (lineEnd < 0) return undefined;
    const sizeText = (data.toString("latin1", at, lineEnd).split(";")[0] ?? "").trim();
    if (!/^[0-9a-f]+$/i.test(sizeText)) throw new Error(`bad chunk size line at byte ${at}`);
    const size = Number.parseInt(sizeText, 16);
    at = lineEnd + 2;
    if (size === 0) break;
    if (data.length < at + size + 2) return undefined;
    if (data.toString("latin1", at + size, at + size + 2) !== CRLF) throw new Error(`chunk at byte ${at} overruns`);
    chunks.push(data.subarray(at, at + size));
    at += size + 2;
  }
  for (;;) {
    // trailer fields, ignored, up to an empty line
    const lineEnd = data.indexOf(CRLF, at);
    if (lineEnd < 0) return undefined;
    const empty = lineEnd === at;
    at = lineEnd + 2;
    if (empty) return { body: Buffer.concat(chunks), end: at };
  }
}

/** One keep-alive connection to the socket, carrying one request at a time. */
function openConnection(socketPath: string) {
  const socket = connect({ path: socketPath });
  let received: Buffer = NOTHING;
  /** The server closed its side or the socket failed: no further request on this connection. */
  let ended = false;
  let inFlight: { resolve: (response: RawResponse) => void; reject: (error: Error) => void } | undefined;
  /** A protocol violation seen while no request was in flight, for the next call to report. */
  let violation: Error | undefined;

  const fail = (error: Error) => {
    ended = true;
    socket.destroy();
    const waiting = inFlight;
    inFlight = undefined;
    if (waiting !== undefined) waiting.reject(error);
    else violation ??= error;
  };
  const settle = () => {
    if (inFlight === undefined) {
      if (received.length > 0) fail(new Error(`${received.length} bytes from the server with no request in flight`));
      return;
    }
    let response: RawResponse | undefined;
    try {
      response = parseResponse(received, ended);
    } catch (error) {
      fail(error as Error);
      return;
    }
    if (response === undefined) return;
    if (response.rest.length > 0) {
      fail(new Error(`${response.rest.length} bytes after the response to the one request in flight`));
      return;
    }
    received = NOTHING;
    if (response.closes) {
      ended = true;
      socket.end();
    }
    const waiting = inFlight;
    inFlight = undefined;
    waiting.resolve(response);
  };

  socket.on("data", (chunk: Buffer) => {
    received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
    settle();
  });
  socket.on("end", () => {
    ended = true;
    settle();
  });
  socket.on("error", (error) => {
    ended = true;
    const waiting = inFlight;
    inFlight = undefined;
    waiting?.reject(error);
  });
  socket.on("close", () => {
    ended = true;
    if (inFlight !== undefined) fail(new Error("connection closed before the response was complete"));
  });

  return {
    get violation(): Error | undefined {
      return violation;
    },
    get reusable(): boolean {
      return !ended;
    },
    exchange(requestBytes: Buffer): Promise<RawResponse> {
      return new Promise((resolve, reject) => {
        if (inFlight !== undefined) throw new Error("one request at a time per connection");
        inFlight = { resolve, reject };
        socket.write(requestBytes);
      });
    },
    close(): void {
      ended = true;
      socket.destroy();
    },
  };
}

/**
 * dockerd's bytes on a raw node:net connection (`dockerRequest`, captured from dockerd 20.10.24: empty Host,
 * `User-Agent: Go-http-client/1.1`, Content-Length, `Accept: application/vnd.docker.plugins.v1.2+json`, no
 * Content-Type nor Accept-Encoding; the body json.Encoder's, JSON and a newline). Like dockerd: one keep-alive
 * connection, one request at a time, a new connection when the server has closed the old one. It reads responses
 * strictly: Content-Length or chunked bodies split over any number of reads, and no stray byte. Its own cost on a
 * cold call is Node's: 0.1-0.25 ms more than the C client per call on the 2-vCPU VM.
 */
export function leanClient(socketPath: string): PluginClient {
  let connection: ReturnType<typeof openConnection> | undefined;
  const exchange = async (method: string, payload: string) => {
    if (connection?.violation !== undefined) throw connection.violation;
    if (connection === undefined || !connection.reusable) connection = openConnection(socketPath);
    const response = await connection.exchange(Buffer.from(dockerRequest(`/${method}`, payload)));
    return { status: response.status, body: response.body.toString("utf8") };
  };
  return timedInProcess(exchange, () => connection?.close());
}

/**
 * Builds the compiled clients into `directory`: the C one with `cc` (always), the Go one when `go` is installed
 * (Debian: golang-go), else undefined with the reason.
 */
export async function buildCompiledClients(
  directory: string,
): Promise<{ c: string; go: string | undefined; goMissing?: string }> {
  const here = import.meta.dirname;
  const c = join(directory, "plugin-client");
  await run("cc", ["-O2", "-o", c, join(here, "clients/plugin-client.c")]);
  const go = join(directory, "plugin-client-go");
  try {
    await run("go", ["build", "-o", go, "."], join(here, "clients/go"), { GOTOOLCHAIN: "local" });
    return { c, go };
  } catch (error) {
    return { c, go: undefined, goMissing: String(error).split("\n")[0] ?? "" };
  }
}

function run(file: string, args: string[], cwd?: string, env: Record<string, string> = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, env: { ...process.env, ...env } }, (error, _stdout, stderr) =>
      error === null ? resolve() : reject(new Error(`${file} ${args.join(" ")}: ${error.message} ${stderr}`)),
    );
  });
}

/**
 * A client run as a child process (`binary SOCKET`), speaking the protocol in clients/plugin-client.c: a batch in
 * on stdin, per call "STATUS NANOSECONDS LENGTH" and the body out on stdout.
 */
export function compiledClient(binary: string, socketPath: string): PluginClient {
  const child = spawn(binary, [socketPath], { stdio: ["pipe", "pipe", "inherit"] });
  let output = Buffer.alloc(0);
  let waiting: { count: number; resolve: (replies: Exchange[]) => void; reject: (error: Error) => void } | undefined;
  const failed = (error: Error) => {
    waiting?.reject(error);
    waiting = undefined;
  };
  child.on("error", failed);
  child.on("exit", (code) => failed(new Error(`${binary} exited with ${code}`)));
  child.stdout.on("data", (chunk: Buffer) => {
    output = Buffer.concat([output, chunk]);
    if (waiting === undefined) return;
    const replies: Exchange[] = [];
    let at = 0;
    while (replies.length < waiting.count) {
      const lineEnd = output.indexOf(10, at);
      if (lineEnd < 0) return;
      const [status = 0, nanoseconds = 0, length = 0] = output.toString("latin1", at, lineEnd).split(" ").map(Number);
      if (output.length < lineEnd + 1 + length) return;
      const body = output.toString("utf8", lineEnd + 1, lineEnd + 1 + length);
      replies.push({ status, body, atMs: nanoseconds / 1e6 });
      at = lineEnd + 1 + length;
    }
    output = output.subarray(at);
    const done = waiting;
    waiting = undefined;
    done.resolve(replies);
  });
  return {
    send(calls) {
      return new Promise((resolve, reject) => {
        if (waiting !== undefined) throw new Error("one batch at a time");
        waiting = { count: calls.length, resolve, reject };
        let batch = `${calls.length}\n`;
        for (const [method, body] of calls) {
          const payload = `${JSON.stringify(body)}\n`;
          batch += `/${method} ${Buffer.byteLength(payload)}\n${payload}`;
        }
        child.stdin.write(batch);
      });
    },
    close() {
      child.stdin.end();
    },
  };
}

/**
 * Reads a request body with a size cap, straight from Node's IncomingMessage when there is one (no Web stream per
 * request), else from the Web Request. Never buffers more than the cap: Content-Length is checked first, then the
 * bytes as they stream in.
 */
import type { IncomingMessage } from "node:http";
import { TsnetError } from "@tsnet/protocol";

/** Thrown when the body exceeds the cap; the app answers 413 and closes the connection. */
export class BodyTooLargeError extends TsnetError {
  constructor(limit: number) {
    super("INVALID_ARGUMENT", `request body is larger than ${limit} bytes`);
  }
}

function declaredLength(value: string | null | undefined): number | undefined {
  if (value === null || value === undefined || value === "") return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** Reads the whole body of a Node request as UTF-8, or throws BodyTooLargeError. */
export function readIncoming(incoming: IncomingMessage, limit: number): Promise<string> {
  const length = declaredLength(incoming.headers["content-length"]);
  if (length !== undefined && length > limit) return Promise.reject(new BodyTooLargeError(limit));
  if (length === 0 || incoming.readableEnded) return Promise.resolve("");
  // Listeners are inline and never removed (the request ends or errors once): on the hot path every named
  // closure and every off() showed in the profile (bench/serve.bench.ts).
  return new Promise<string>((resolve, reject) => {
    let first: Buffer | undefined;
    let rest: Buffer[] | undefined;
    let size = 0;
    let settled = false;
    incoming.on("data", (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > limit) {
        settled = true;
        incoming.pause();
        reject(new BodyTooLargeError(limit));
      } else if (first === undefined) {
        first = chunk;
      } else {
        rest ??= [first];
        rest.push(chunk);
      }
    });
    incoming.on("end", () => {
      if (settled) return;
      settled = true;
      resolve(rest !== undefined ? Buffer.concat(rest).toString("utf8") : (first?.toString("utf8") ?? ""));
    });
    incoming.on("error", (error: Error) => {
      if (settled) return;
      settled = true;
      reject(new TsnetError("UNAVAILABLE", `reading request body: ${error.message}`, { cause: error }));
    });
    // a client that goes away mid-body: some Node versions emit only "aborted" and "close", no "error"
    incoming.on("close", () => {
      if (settled) return;
      settled = true;
      reject(new TsnetError("UNAVAILABLE", "reading request body: client went away"));
    });
  });
}

/** Reads the whole body of a Web Request as UTF-8, or throws BodyTooLargeError. */
export async function readRequest(request: Request, limit: number): Promise<string> {
  const length = declaredLength(request.headers.get("content-length"));
  if (length !== undefined && length > limit) throw new BodyTooLargeError(limit);
  if (request.body === null) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new BodyTooLargeError(limit);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

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
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        incoming.pause();
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer).toString("utf8") : Buffer.concat(chunks).toString("utf8"));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(new TsnetError("UNAVAILABLE", `reading request body: ${error.message}`, { cause: error }));
    };
    const onAborted = (): void => onError(new Error("client went away"));
    function cleanup(): void {
      incoming.off("data", onData);
      incoming.off("end", onEnd);
      incoming.off("error", onError);
      incoming.off("aborted", onAborted);
    }
    incoming.on("data", onData);
    incoming.on("end", onEnd);
    incoming.on("error", onError);
    incoming.on("aborted", onAborted);
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

/** The CLI side of the admin socket. */
import { request } from "node:http";

/** The daemon does not answer on its admin socket (not running, wrong path, or no permission). */
export class DaemonUnreachableError extends Error {
  constructor(
    readonly socketPath: string,
    readonly reason: string,
  ) {
    super(`cannot reach the tsnet daemon at ${socketPath}: ${reason}`);
    this.name = "DaemonUnreachableError";
  }
}

/** The daemon answered with an error status. */
export class AdminError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "AdminError";
  }
}

function reasonOf(error: NodeJS.ErrnoException): string {
  if (error.code === "ENOENT") return "no socket there (is `tsnet serve` running? see --admin-socket)";
  if (error.code === "ECONNREFUSED") return "nothing listens on the socket (the daemon is not running)";
  if (error.code === "EACCES") return "permission denied (the admin socket is root only: run as root)";
  return error.message;
}

/**
 * One admin request. Resolves with the body text of a 200.
 * @throws DaemonUnreachableError when nothing answers; AdminError for a non-200 answer
 */
export function adminRequest(
  socketPath: string,
  method: "GET" | "POST",
  path: string,
  timeoutMs = 30_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, timeout: timeoutMs }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        text += chunk;
      });
      res.on("end", () => {
        if (res.statusCode === 200) return resolve(text);
        let message = text.trim();
        try {
          message = (JSON.parse(text) as { error?: string }).error ?? message;
        } catch {
          // not JSON: keep the text
        }
        reject(new AdminError(res.statusCode ?? 0, message));
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new DaemonUnreachableError(socketPath, `no answer within ${timeoutMs} ms`)));
    req.on("error", (error: NodeJS.ErrnoException) => {
      reject(error instanceof DaemonUnreachableError ? error : new DaemonUnreachableError(socketPath, reasonOf(error)));
    });
    req.end();
  });
}

/** GET a JSON document from the admin socket. */
export async function adminJson<T>(socketPath: string, path: string): Promise<T> {
  return JSON.parse(await adminRequest(socketPath, "GET", path)) as T;
}

import { readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { TsnetError } from "@tsnet/protocol";

/** The file naming the holder's pid, for the refusal message and for humans; the lock itself is the socket. */
export const PID_FILE = "tsnet.pid";

/** A held state-directory lock. `release` is idempotent. */
export interface StateLock {
  readonly directory: string;
  release(): Promise<void>;
}

/**
 * Locks `directory` for this process: binds a Linux abstract unix socket named after the directory's device and
 * inode. The kernel frees an abstract socket when its process dies, also on SIGKILL, so a crash never leaves a
 * stale lock behind and no liveness guess (pid reuse) is needed. The pid file next to the data only names the
 * holder; a stale one left by kill -9 is overwritten by the next holder.
 *
 * @throws TsnetError CONFLICT when another process (or another store in this process) holds the directory.
 */
export async function lockStateDirectory(directory: string): Promise<StateLock> {
  const info = await stat(directory);
  const name = `\0tsnet-state-lock:${info.dev}:${info.ino}`;
  const server = createServer((socket) => socket.end(`${process.pid}\n`));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ path: name, exclusive: true }, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") {
      const holder = await readHolder(directory);
      throw new TsnetError("CONFLICT", `state dir "${directory}" is locked by pid ${holder}`, { cause: error });
    }
    throw new TsnetError("UNAVAILABLE", `state dir "${directory}": cannot take the lock: ${String(error)}`, {
      cause: error,
    });
  }
  server.unref();
  const pidFile = join(directory, PID_FILE);
  const temporary = `${pidFile}.${process.pid}.tmp`;
  await writeFile(temporary, `${process.pid}\n`, { mode: 0o644 });
  await rename(temporary, pidFile);
  let released = false;
  return {
    directory,
    async release() {
      if (released) return;
      released = true;
      const named = await readFile(pidFile, "utf8").catch(() => "");
      if (named.trim() === String(process.pid)) await unlink(pidFile).catch(() => {});
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function readHolder(directory: string): Promise<string> {
  // The holder writes its pid file right after binding; give a racing start a moment to finish it.
  for (let attempt = 0; attempt < 20; attempt++) {
    const text = await readFile(join(directory, PID_FILE), "utf8").catch(() => "");
    const pid = text.trim();
    if (/^\d+$/.test(pid)) return pid;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return "unknown";
}

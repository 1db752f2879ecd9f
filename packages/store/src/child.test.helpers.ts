/** Test helpers shared by the store tests that kill a child process mid-write (fixtures/commit-child.ts). */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const fixtures = fileURLToPath(new URL("../fixtures/", import.meta.url));

/** Runs a fixture under tsx with `args`, stdout piped. */
export function spawnFixture(name: string, ...args: string[]): ChildProcess {
  return spawn(process.execPath, ["--conditions=@tsnet/source", "--import", "tsx", join(fixtures, name), ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
}

/** Collects stdout lines; resolves `until` once `predicate` holds for the lines so far. */
export function lines(child: ChildProcess): {
  all: string[];
  until(predicate: (all: string[]) => boolean): Promise<void>;
} {
  const all: string[] = [];
  let buffered = "";
  const waiters: Array<{ predicate: (all: string[]) => boolean; resolve: () => void }> = [];
  child.stdout?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split("\n");
    buffered = parts.pop() ?? "";
    all.push(...parts);
    for (const waiter of [...waiters]) {
      if (waiter.predicate(all)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  });
  return {
    all,
    until: (predicate) =>
      predicate(all) ? Promise.resolve() : new Promise((resolve) => waiters.push({ predicate, resolve })),
  };
}

/** Resolves with the exit code once the child has exited. */
export function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once("exit", (code) => resolve(code));
  });
}

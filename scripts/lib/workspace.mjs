// Shared helpers for the root scripts: find workspace packages, run a child process with a time box.
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

export const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

/**
 * Every workspace package, in a stable order: the globs of pnpm-workspace.yaml (only `dir/*` forms are used
 * there), then directory name. Returns { dir, rel, name, manifest }.
 */
export function listPackages() {
  const yaml = readFileSync(join(ROOT, "pnpm-workspace.yaml"), "utf8");
  const globs = [];
  let inPackages = false;
  for (const line of yaml.split("\n")) {
    if (/^packages:\s*$/.test(line)) {
      inPackages = true;
      continue;
    }
    if (inPackages) {
      const match = /^\s+-\s+["']?([^"'#\s]+)["']?/.exec(line);
      if (match?.[1]) globs.push(match[1]);
      else if (/^\S/.test(line)) inPackages = false;
    }
  }
  const packages = [];
  for (const glob of globs) {
    if (!glob.endsWith("/*")) throw new Error(`pnpm-workspace.yaml: only "dir/*" globs are supported, got ${glob}`);
    const parent = join(ROOT, glob.slice(0, -2));
    if (!existsSync(parent)) continue;
    for (const entry of readdirSync(parent, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (!entry.isDirectory()) continue;
      const dir = join(parent, entry.name);
      const manifestPath = join(dir, "package.json");
      if (!existsSync(manifestPath)) continue;
      const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
      packages.push({ dir, rel: relative(ROOT, dir), name: manifest.name ?? relative(ROOT, dir), manifest });
    }
  }
  return packages;
}

/**
 * Runs a command in its own process group, streaming its output through to ours and keeping a copy.
 * After `timeoutMs` the whole group gets SIGTERM, then SIGKILL 10 s later.
 * Resolves { code, signal, output, timedOut, ms }; never rejects (a spawn failure becomes code 127).
 */
export function run(command, args, { cwd = ROOT, env = process.env, timeoutMs = 0, capture = true } = {}) {
  const started = Date.now();
  return new Promise((resolve) => {
    let output = "";
    let timedOut = false;
    let killTimer;
    const child = spawn(command, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const take = (stream, sink) =>
      stream.on("data", (chunk) => {
        sink.write(chunk);
        if (capture) output += chunk.toString("utf8");
      });
    take(child.stdout, process.stdout);
    take(child.stderr, process.stderr);
    const signalGroup = (signal) => {
      try {
        process.kill(-child.pid, signal);
      } catch {
        // already gone
      }
    };
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            process.stderr.write(
              `\n[test-all] ${command} ${args.join(" ")} exceeded ${timeoutMs / 1000} s, stopping it\n`,
            );
            signalGroup("SIGTERM");
            killTimer = setTimeout(() => signalGroup("SIGKILL"), 10_000);
          }, timeoutMs)
        : undefined;
    const forward = (signal) => signalGroup(signal);
    process.on("SIGINT", forward);
    process.on("SIGTERM", forward);
    const finish = (code, signal) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      process.off("SIGINT", forward);
      process.off("SIGTERM", forward);
      resolve({ code, signal, output, timedOut, ms: Date.now() - started });
    };
    child.on("error", (error) => {
      output += `\n${error.message}\n`;
      process.stderr.write(`[test-all] cannot start ${command}: ${error.message}\n`);
      once(127, null);
    });
    let done = false;
    const once = (code, signal) => {
      if (done) return;
      done = true;
      finish(code, signal);
    };
    // A test that leaves a process behind which still holds our pipes would delay "close" forever: once the
    // script itself has exited, stop what is left of its process group and stop waiting after a grace period.
    child.on("exit", (code, signal) => {
      setTimeout(() => {
        if (done) return;
        process.stderr.write(`[test-all] ${command} ${args.join(" ")} left processes behind; stopping them\n`);
        signalGroup("SIGTERM");
        setTimeout(() => once(code, signal), 2_000).unref();
      }, 5_000).unref();
    });
    child.on("close", (code, signal) => once(code, signal));
  });
}

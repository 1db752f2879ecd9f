#!/usr/bin/env node
// Runs uvu once per test file instead of once for all: `node scripts/uvu-each.mjs DIR PATTERN`.
// uvu imports every file before it runs any, so one file that throws on import loses the whole run's results;
// for slow suites that own real resources (Docker, kernel) a process per file also means a fresh run prefix and
// cleanup per file. Each run prints its own Total/Passed/Skipped block, which test-all.mjs adds up; a file whose
// run ends without a block gets one line `[uvu-each] FAILED TO RUN: FILE (...)`, which test-all counts as one failure.
// Runs with `--conditions=@tsnet/source --import tsx`, like every package's test script. Exit code 1 if any run failed.
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

const [dir = "src", pattern = "\\.test\\.ts$"] = process.argv.slice(2);
// One file that hangs (a plugin that never answers makes docker hang: protocol.md 1.4) must not use up the whole
// script's time box in test-all: each file gets its own, then SIGTERM (its cleanup hooks run), then SIGKILL.
const FILE_TIMEOUT_MS = Number(process.env.TSNET_TEST_FILE_TIMEOUT ?? 480) * 1000;
const matcher = new RegExp(pattern);
const files = readdirSync(dir, { recursive: true, encoding: "utf8" })
  .filter((file) => matcher.test(file))
  .sort();
// The package's own uvu, as its other test scripts use (`./node_modules/uvu/bin.js`).
const uvu = join(process.cwd(), "node_modules/uvu/bin.js");

/** Runs one file, streaming its output; resolves with its exit code and whether it printed a uvu summary. */
function runFile(file) {
  const escaped = file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--conditions=@tsnet/source", "--import", "tsx", uvu, dir, `^${escaped}$`], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let tail = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      process.stderr.write(`\n[uvu-each] ${file}: no result after ${FILE_TIMEOUT_MS / 1000} s, stopping it\n`);
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 15_000).unref();
    }, FILE_TIMEOUT_MS);
    child.stdout.on("data", (chunk) => {
      process.stdout.write(chunk);
      tail = (tail + chunk.toString("utf8")).slice(-4096);
    });
    child.stderr.on("data", (chunk) => process.stderr.write(chunk));
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal, summarised: !timedOut && /Total:/.test(tail), timedOut });
    });
  });
}

let failed = false;
for (const file of files) {
  const { code, summarised, timedOut } = await runFile(file);
  if (code !== 0) failed = true;
  if (!summarised) {
    const why = timedOut ? `timed out after ${FILE_TIMEOUT_MS / 1000} s` : `exit ${code}, no uvu summary`;
    process.stdout.write(`\n[uvu-each] FAILED TO RUN: ${join(dir, file)} (${why})\n`);
  }
}
if (files.length === 0) process.stdout.write(`no file in ${dir} matches ${pattern}\n`);
process.exitCode = failed ? 1 : 0;

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
    child.stdout.on("data", (chunk) => {
      process.stdout.write(chunk);
      tail = (tail + chunk.toString("utf8")).slice(-4096);
    });
    child.stderr.on("data", (chunk) => process.stderr.write(chunk));
    child.on("close", (code, signal) => resolve({ code: code ?? signal, summarised: /Total:/.test(tail) }));
  });
}

let failed = false;
for (const file of files) {
  const { code, summarised } = await runFile(file);
  if (code !== 0) failed = true;
  if (!summarised)
    process.stdout.write(`\n[uvu-each] FAILED TO RUN: ${join(dir, file)} (exit ${code}, no uvu summary)\n`);
}
if (files.length === 0) process.stdout.write(`no file in ${dir} matches ${pattern}\n`);
process.exitCode = failed ? 1 : 0;

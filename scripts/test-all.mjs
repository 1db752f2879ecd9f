#!/usr/bin/env node
// The root test runner (`pnpm test`, and what .ci/run ends with).
//
// 1. builds the workspace once (turbo); the Docker tests need the built daemon;
// 2. runs the checks that count: lint (biome), typecheck (tsc -b), the root tsconfig referencing every package,
//    publishability of each package;
// 3. runs, one at a time, every package script named `test` or `test:*` (kernel and Docker tests must not race),
//    streaming their output and adding up uvu's closing `Total / Passed / Skipped` blocks;
// 4. prints a table per package and, as the very last line, `N passed, N failed`.
//
// Counting: failed = Total - Passed per uvu block. A script that exits non-zero with no block (a file threw on
// import), or that exits non-zero although its blocks show no failure, or that times out, counts one failure.
// A check counts one pass or one failure. Exit code 1 iff anything failed.
//
// Options: --only=<dir or name>[,...] limit to some packages; --skip-build; --skip-checks; --timeout=<seconds>.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { checkPackage, publishablePackages } from "./check-packages.mjs";
import { listPackages, ROOT, run } from "./lib/workspace.mjs";

const options = Object.fromEntries(
  process.argv.slice(2).map((arg) => {
    const [key, value] = arg.replace(/^--/, "").split("=");
    return [key, value ?? true];
  }),
);
const SCRIPT_TIMEOUT_MS = Number(options.timeout ?? process.env.TSNET_TEST_TIMEOUT ?? 600) * 1000;
const only = typeof options.only === "string" ? options.only.split(",") : undefined;
const selected = (pkg) => !only || only.some((want) => pkg.rel === want.replace(/\/$/, "") || pkg.name === want);

const env = {
  ...process.env,
  TSNET_TEST: "1",
  TURBO_TELEMETRY_DISABLED: "1",
  NO_COLOR: "1",
  FORCE_COLOR: "0",
  npm_config_nodedir: process.env.npm_config_nodedir ?? "/usr",
};

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escapes is the point
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;
const BLOCK = /^\s*Total:\s+(\d+)\s*\n\s*Passed:\s+(\d+)\s*\n\s*Skipped:\s+(\d+)/gm;

/** Adds up every uvu closing block in a script's output. */
export function parseUvu(output) {
  const clean = output.replace(ANSI, "").replace(/\r/g, "");
  const blocks = [...clean.matchAll(BLOCK)].map((match) => ({
    total: Number(match[1]),
    passed: Number(match[2]),
    skipped: Number(match[3]),
  }));
  // uvu prints `FAIL  Suite  "test name"` per failed test; keep them to name the failures in the summary.
  const failures = [...clean.matchAll(/^\s*FAIL\s+(.*?)\s*"(.*)"\s*$/gm)].map((match) =>
    match[1] ? `${match[1]} > ${match[2]}` : String(match[2]),
  );
  // A run that crashed or whose file threw on import prints no block: name the last test file it mentioned
  // (uvu prints each file's name before running it; an import error's stack names the file).
  const loadError = [...clean.matchAll(/([\w./@-]+\.test\.[cm]?[jt]s)/g)].pop()?.[1];
  // scripts/uvu-each.mjs runs one uvu per file and names each file whose run printed no block.
  const unrun = [...clean.matchAll(/^\[uvu-each\] FAILED TO RUN: (\S+)(?: \((.*)\))?/gm)].map(
    (match) => `${match[1]} did not finish (${match[2] ?? "no uvu summary"})`,
  );
  failures.push(...unrun);
  return {
    failures,
    loadError,
    blocks: blocks.length,
    passed: blocks.reduce((sum, block) => sum + block.passed, 0),
    failed: blocks.reduce((sum, block) => sum + Math.max(0, block.total - block.passed), 0) + unrun.length,
    skipped: blocks.reduce((sum, block) => sum + block.skipped, 0),
  };
}

/** One row of the summary: a package (or "workspace") and what ran there. */
const rows = [];
const record = (pkg, what, passed, failed, skipped, ms, note = "", failures = []) =>
  rows.push({ pkg, what, passed, failed, skipped, ms, note, failures });

function banner(text) {
  process.stdout.write(`\n━━━ ${text} ━━━\n`);
}

async function check(pkg, what, command, args, cwd = ROOT) {
  banner(`${pkg}: ${what} (${[command, ...args].join(" ")})`);
  const result = await run(command, args, { cwd, env, timeoutMs: SCRIPT_TIMEOUT_MS, capture: false });
  const ok = result.code === 0 && !result.timedOut;
  const note = ok ? "" : result.timedOut ? "timed out" : `exit ${result.code ?? result.signal}`;
  record(pkg, what, ok ? 1 : 0, ok ? 0 : 1, 0, result.ms, note);
  return ok;
}

/** Root `tsc -b` only sees what the root tsconfig.json references: every package with a tsconfig must be there. */
function checkReferences(packages) {
  banner("workspace: every package with a tsconfig.json is referenced by the root tsconfig.json");
  const started = Date.now();
  const root = JSON.parse(readFileSync(join(ROOT, "tsconfig.json"), "utf8"));
  const referenced = new Set((root.references ?? []).map((reference) => reference.path.replace(/^\.\//, "")));
  const missing = packages
    .filter((pkg) => existsSync(join(pkg.dir, "tsconfig.json")) && !referenced.has(pkg.rel))
    .map((pkg) => pkg.rel);
  process.stdout.write(missing.length === 0 ? "ok\n" : `not referenced: ${missing.join(", ")}\n`);
  const note = missing.length === 0 ? "" : `not referenced: ${missing.join(", ")}`;
  record(
    "workspace",
    "references",
    missing.length === 0 ? 1 : 0,
    missing.length === 0 ? 0 : 1,
    0,
    Date.now() - started,
    note,
  );
}

function testScripts(pkg) {
  const names = Object.keys(pkg.manifest.scripts ?? {}).filter((name) => name === "test" || name.startsWith("test:"));
  return names.sort((a, b) => (a === "test" ? -1 : b === "test" ? 1 : a.localeCompare(b)));
}

/**
 * A script's time box: --timeout / TSNET_TEST_TIMEOUT (default 600 s), or more where a package asks for it in its
 * package.json, e.g. `"tsnet": { "testTimeoutSeconds": { "test:docker": 1200 } }` (a suite of many Docker files).
 * An explicit --timeout wins.
 */
function scriptTimeoutMs(pkg, script) {
  const own = Number(pkg.manifest.tsnet?.testTimeoutSeconds?.[script]);
  return Number.isFinite(own) && own > 0 && options.timeout === undefined ? own * 1000 : SCRIPT_TIMEOUT_MS;
}

async function runTestScript(pkg, script) {
  banner(`${pkg.name}: ${script}`);
  const timeoutMs = scriptTimeoutMs(pkg, script);
  const result = await run("pnpm", ["run", script], { cwd: pkg.dir, env, timeoutMs });
  const counts = parseUvu(result.output);
  let { failed } = counts;
  let note = "";
  if (result.timedOut) {
    failed += 1;
    note = `timed out after ${timeoutMs / 1000} s`;
  } else if (result.code !== 0 && counts.blocks === 0 && failed === 0) {
    failed += 1;
    note = `exit ${result.code ?? result.signal} with no uvu summary: ${counts.loadError ? `crashed or failed to load in ${counts.loadError.replace(`${ROOT}/`, "")}` : "a test file failed to load?"}`;
  } else if (result.code !== 0 && failed === 0) {
    failed += 1;
    note = `exit ${result.code ?? result.signal} although no test failed`;
  } else if (counts.blocks === 0 && failed === 0) {
    note = "no uvu summary";
  }
  record(pkg.name, script, counts.passed, failed, counts.skipped, result.ms, note, counts.failures);
}

function printSummary() {
  const header = ["package", "what", "passed", "failed", "skipped", "time", "note"];
  // Grouped by package (workspace-wide checks first), each package's rows in the order they ran.
  const order = (row) => (row.pkg === "workspace" ? "" : row.pkg);
  const sorted = rows
    .map((row, index) => ({ row, index }))
    .sort((a, b) => order(a.row).localeCompare(order(b.row)) || a.index - b.index)
    .map(({ row }) => row);
  const table = sorted.map((row) => [
    row.pkg,
    row.what,
    String(row.passed),
    String(row.failed),
    String(row.skipped),
    `${(row.ms / 1000).toFixed(1)}s`,
    row.note,
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...table.map((cells) => cells[column].length)));
  const line = (cells) =>
    cells
      .map((cell, column) => (column >= 2 && column <= 5 ? cell.padStart(widths[column]) : cell.padEnd(widths[column])))
      .join("  ")
      .trimEnd();
  process.stdout.write(`\n${line(header)}\n${widths.map((width) => "-".repeat(width)).join("  ")}\n`);
  for (const cells of table) process.stdout.write(`${line(cells)}\n`);
  const failures = rows.filter((row) => row.failed > 0);
  if (failures.length > 0) {
    process.stdout.write("\nfailing:\n");
    for (const row of failures) {
      process.stdout.write(`  ${row.pkg} ${row.what}${row.note ? `: ${row.note}` : ""}\n`);
      for (const name of row.failures) process.stdout.write(`    ✘ ${name}\n`);
    }
  }
}

// Ctrl-C / SIGTERM: the running script's process group gets the signal (lib/workspace.mjs run()); then stop
// starting new ones, print what ran, and count the interruption as a failure.
let interrupted = false;
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    interrupted = true;
  });
}

async function main() {
  const started = Date.now();
  const packages = listPackages().filter(selected);

  // --continue: one package that does not build must not keep the others from building and being tested.
  if (!options["skip-build"])
    await check("workspace", "build", "pnpm", ["exec", "turbo", "run", "build", "--continue"]);

  if (!options["skip-checks"]) {
    await check("workspace", "lint", "pnpm", ["exec", "biome", "check", "."]);
    await check("workspace", "typecheck", "pnpm", ["exec", "tsc", "-b"]);
    checkReferences(listPackages());
    for (const pkg of publishablePackages().filter(selected)) {
      banner(`${pkg.name}: publishable (pnpm pack + publint)`);
      const began = Date.now();
      const { problems, files } = await checkPackage(pkg);
      if (problems.length === 0) process.stdout.write(`ok: ${files.length} files\n`);
      for (const problem of problems) process.stdout.write(`  ${problem}\n`);
      const note = problems.length === 0 ? "" : problems[0] + (problems.length > 1 ? ` (+${problems.length - 1})` : "");
      record(
        pkg.name,
        "publishable",
        problems.length === 0 ? 1 : 0,
        problems.length === 0 ? 0 : 1,
        0,
        Date.now() - began,
        note,
      );
    }
  }

  // Unit tests of every package first (fast feedback), then the root/kernel/Docker suites, one at a time.
  const plain = packages.flatMap((pkg) =>
    testScripts(pkg)
      .filter((script) => script === "test")
      .map((s) => [pkg, s]),
  );
  const special = packages.flatMap((pkg) =>
    testScripts(pkg)
      .filter((script) => script !== "test")
      .map((s) => [pkg, s]),
  );
  for (const [pkg, script] of [...plain, ...special]) {
    if (interrupted) break;
    await runTestScript(pkg, script);
  }
  if (interrupted) record("workspace", "interrupted", 0, 1, 0, 0, "stopped by a signal; later scripts did not run");

  printSummary();
  const passed = rows.reduce((sum, row) => sum + row.passed, 0);
  const failed = rows.reduce((sum, row) => sum + row.failed, 0);
  process.stdout.write(`(took ${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  process.exitCode = failed > 0 ? 1 : 0;
}

if (process.argv[1] === `${ROOT}/scripts/test-all.mjs` || import.meta.url === `file://${process.argv[1]}`) {
  await main();
}

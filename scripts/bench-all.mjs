#!/usr/bin/env node
// `pnpm bench` at the root: builds once, then runs every workspace package's `bench` script one after another
// (benchmarks that share two cores must not run side by side). Each prints its own figures next to a baseline
// measured in the same run; this script only reports which benches ran and which failed.
//
//   node scripts/bench-all.mjs [--only=packages/ipam,@tsnet/server] [--skip-build]
import { listPackages, run } from "./lib/workspace.mjs";

const options = Object.fromEntries(
  process.argv.slice(2).map((arg) => {
    const [key, value] = arg.replace(/^--/, "").split("=");
    return [key, value ?? true];
  }),
);
const only = typeof options.only === "string" ? options.only.split(",") : undefined;
const env = { ...process.env, TURBO_TELEMETRY_DISABLED: "1" };

const packages = listPackages().filter(
  (pkg) =>
    pkg.manifest.scripts?.bench &&
    (!only || only.some((want) => pkg.rel === want.replace(/\/$/, "") || pkg.name === want)),
);

if (!options["skip-build"]) {
  const build = await run("pnpm", ["exec", "turbo", "run", "build", "--output-logs=errors-only"], {
    env,
    capture: false,
  });
  if (build.code !== 0) process.stderr.write("[bench-all] build failed; benches run from src and may still work\n");
}

const results = [];
for (const pkg of packages) {
  process.stdout.write(`\n━━━ ${pkg.name}: bench ━━━\n`);
  const result = await run("pnpm", ["run", "bench"], { cwd: pkg.dir, env, capture: false });
  results.push({ name: pkg.name, ok: result.code === 0, seconds: result.ms / 1000 });
}

process.stdout.write("\n");
for (const { name, ok, seconds } of results) {
  process.stdout.write(`${ok ? "ok  " : "FAIL"}  ${name}  ${seconds.toFixed(1)}s\n`);
}
if (results.length === 0) process.stdout.write("no package has a bench script yet\n");
process.exitCode = results.every((result) => result.ok) ? 0 : 1;

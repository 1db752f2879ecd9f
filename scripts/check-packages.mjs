#!/usr/bin/env node
// Publishability check: every non-private workspace package packs (with `pnpm pack`, which rewrites
// `workspace:*`) to a tarball that holds its built JS, types, README and package.json only, every entry
// point its manifest names is inside the tarball, and publint reports nothing.
//
//   node scripts/check-packages.mjs            # all non-private packages, after `pnpm build`
//   node scripts/check-packages.mjs packages/ipam
//
// Exit code 1 when any package has a problem. test-all.mjs imports checkPackage() and counts one check per package.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { publint } from "publint";
import { formatMessage } from "publint/utils";
import { listPackages, ROOT } from "./lib/workspace.mjs";

const exec = promisify(execFile);

/** Files a published package may hold, relative to the tarball's `package/`. Source maps go with the JS/types. */
const ALLOWED = [
  /^package\.json$/,
  /^README\.md$/i,
  /^LICEN[CS]E(\.md|\.txt)?$/i,
  /^CHANGELOG\.md$/i,
  /^dist\/.+\.(js|mjs|cjs|d\.ts|d\.mts|d\.cts)$/,
  /^dist\/.+\.(js|mjs|cjs|d\.ts|d\.mts|d\.cts)\.map$/,
];
const FORBIDDEN = [
  [/(^|\/)src\//, "source file"],
  [/\.test\./, "test file"],
  [/\.tsbuildinfo$/, "tsbuildinfo"],
  [/(^|\/)bench\//, "benchmark"],
  [/(^|\/)\.turbo\//, "turbo cache"],
];

/** The file paths a manifest points at (exports except the @tsnet/source condition, main, module, types, bin). */
function entryPoints(manifest) {
  const paths = new Set();
  const visit = (value, condition) => {
    if (condition === "@tsnet/source") return;
    if (typeof value === "string") {
      if (!value.includes("*")) paths.add(value);
    } else if (Array.isArray(value)) {
      for (const item of value) visit(item, condition);
    } else if (value && typeof value === "object") {
      for (const [key, inner] of Object.entries(value)) visit(inner, key);
    }
  };
  visit(manifest.exports, undefined);
  for (const field of ["main", "module", "types", "typings"]) visit(manifest[field], field);
  if (typeof manifest.bin === "string") paths.add(manifest.bin);
  else if (manifest.bin) for (const value of Object.values(manifest.bin)) paths.add(value);
  return [...paths].map((path) => path.replace(/^\.\//, ""));
}

/** The export subpaths that name JavaScript (".", "./testing", ...), not "./package.json". */
function importableSubpaths(manifest) {
  if (!manifest.exports || typeof manifest.exports !== "object") return [];
  return Object.keys(manifest.exports).filter((key) => key.startsWith(".") && !key.endsWith(".json"));
}

/**
 * Packs one package and checks the tarball. Returns { name, problems: string[], files: string[] }.
 * @param {{ dir: string, name: string, manifest: any }} pkg
 */
export async function checkPackage(pkg) {
  const problems = [];
  let files = [];
  const scratch = mkdtempSync(join(tmpdir(), "tsnet-pack-"));
  try {
    if (!existsSync(join(pkg.dir, "dist"))) problems.push("no dist/ (run `pnpm build` first)");
    if (!existsSync(join(pkg.dir, "README.md"))) problems.push("no README.md");
    for (const field of ["name", "version", "description", "license", "exports", "files"]) {
      if (pkg.manifest[field] === undefined) problems.push(`package.json has no "${field}"`);
    }
    const { stdout } = await exec("pnpm", ["pack", "--pack-destination", scratch, "--json"], {
      cwd: pkg.dir,
      env: { ...process.env, NO_COLOR: "1" },
      maxBuffer: 16 * 1024 * 1024,
    });
    const report = JSON.parse(stdout.slice(stdout.indexOf("{")));
    const tarball = report.filename;
    const listing = await exec("tar", ["-tzf", tarball], { maxBuffer: 16 * 1024 * 1024 });
    files = listing.stdout
      .split("\n")
      .filter((line) => line && !line.endsWith("/"))
      .map((line) => line.replace(/^package\//, ""));

    if (!files.some((file) => /^README\.md$/i.test(file))) problems.push("tarball has no README.md");
    for (const file of files) {
      const forbidden = FORBIDDEN.find(([pattern]) => pattern.test(file));
      if (forbidden) problems.push(`tarball holds a ${forbidden[1]}: ${file}`);
      else if (!ALLOWED.some((pattern) => pattern.test(file)))
        problems.push(`tarball holds an unexpected file: ${file}`);
    }
    for (const entry of entryPoints(pkg.manifest)) {
      if (!files.includes(entry)) problems.push(`entry point ${entry} is not in the tarball`);
    }

    const packed = (await exec("tar", ["-xzOf", tarball, "package/package.json"])).stdout;
    if (packed.includes('"workspace:')) problems.push("packed package.json still holds a workspace: range");

    // The built entry points must load without the @tsnet/source condition, as they will for a user.
    for (const subpath of importableSubpaths(pkg.manifest)) {
      const specifier = subpath === "." ? pkg.name : `${pkg.name}/${subpath.slice(2)}`;
      try {
        await exec(process.execPath, ["--input-type=module", "-e", `await import(${JSON.stringify(specifier)})`], {
          cwd: pkg.dir,
          timeout: 30_000,
        });
      } catch (error) {
        const stderr = String(error.stderr ?? error.message);
        const line = stderr.split("\n").find((text) => /Error|error/.test(text)) ?? stderr.split("\n")[0];
        problems.push(`import("${specifier}") from dist fails: ${line.trim()}`);
      }
    }

    const bytes = readFileSync(tarball);
    const result = await publint({
      pack: { tarball: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) },
      level: "suggestion",
    });
    for (const message of result.messages) {
      problems.push(`publint ${message.type}: ${formatMessage(message, result.pkg, { color: false }) ?? message.code}`);
    }
  } catch (error) {
    problems.push(`pack failed: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return { name: pkg.name, problems, files };
}

/** The packages that are meant to be published: every workspace package not marked private. */
export function publishablePackages() {
  return listPackages().filter((pkg) => pkg.manifest.private !== true);
}

async function main() {
  const wanted = process.argv.slice(2).map((arg) => resolve(arg));
  const packages = publishablePackages().filter((pkg) => wanted.length === 0 || wanted.includes(pkg.dir));
  if (packages.length === 0) {
    console.error("check-packages: no publishable package matched");
    process.exit(1);
  }
  let failed = 0;
  for (const pkg of packages) {
    const { problems, files } = await checkPackage(pkg);
    if (problems.length === 0) {
      console.log(`ok    ${pkg.name} (${files.length} files)`);
    } else {
      failed++;
      console.log(`FAIL  ${pkg.name}`);
      for (const problem of problems) console.log(`        ${problem}`);
    }
  }
  console.log(`${packages.length - failed} packages publishable, ${failed} not`);
  process.exitCode = failed > 0 ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1] === join(ROOT, "scripts/check-packages.mjs")) {
  await main();
}

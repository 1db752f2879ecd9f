#!/usr/bin/env node
import { tuneJit } from "./jit.js";

// Before the CLI's modules load (hence the dynamic import below): see jit.ts.
tuneJit();
const { main } = await import("./cli.js");

const code = await main(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
process.exitCode = code;

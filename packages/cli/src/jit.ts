/**
 * V8 tiering for a daemon that answers sparse calls. V8's defaults suit a browser tab or a busy server: code is
 * optimised once it has run a lot (`--interrupt-budget`, 66 KB of bytecode executed per function) and then only
 * after 500 more calls without a new type seen at a call site (`--minimum-invocations-after-ic-update`). A plugin
 * gets a handful of calls per container, spaced out, so its request path stays in the interpreter for hundreds of
 * containers, and an idle daemon runs that path cold: interpreted code touches more memory (bytecode, handlers,
 * feedback) than optimised code. Lower thresholds get the path optimised after tens of calls instead.
 *
 * Measured with a dockerd-like client, paced 25 ms, two daemons of the same build in the same run: CreateEndpoint +
 * Join 0.90 → 0.74 ms, a no-op call 0.39 → 0.33 ms (see apps/e2e/bench/README.md).
 */
import { setFlagsFromString } from "node:v8";

/** The flags {@link tuneJit} sets. */
export const JIT_FLAGS: readonly string[] = ["--interrupt-budget=8192", "--minimum-invocations-after-ic-update=20"];

/**
 * Sets {@link JIT_FLAGS}. Call it first thing, before the daemon's modules load: the flags only change when V8
 * decides to optimise, which it checks as code runs, so setting them at run time is safe (node:v8 warns that some
 * other flags are not).
 */
export function tuneJit(): void {
  for (const flag of JIT_FLAGS) setFlagsFromString(flag);
}

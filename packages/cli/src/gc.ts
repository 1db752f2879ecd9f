/** `tsnet gc`: find (and with `apply`, remove) tsnet links, tables and jumps that no stored network owns. */
import { firewallNamesFor, linkGroupFor } from "./compose.js";
import { type Orphan, type OrphanOptions, removeOrphan, scanOrphans } from "./host.js";
import type { NetworkView } from "./state-view.js";

/** What one gc run found and did. */
export interface GcReport {
  /** `daemon`: the running daemon did it; `offline`: the CLI did it with the state dir locked. */
  mode: "daemon" | "offline";
  applied: boolean;
  orphans: Orphan[];
  removed: string[];
  failed: Array<{ name: string; error: string }>;
}

/** Options of {@link collectGarbage}. */
export interface GcOptions {
  apply: boolean;
  mode: "daemon" | "offline";
  /** The plugin whose leftovers to collect (its firewall names and link group); default "tsnet". */
  pluginName?: string | undefined;
  /**
   * With `apply` and a running daemon: an orphan must still be one this long after it was first seen. A link exists
   * before its record is committed (records are written last), so a call in flight can look like an orphan for up
   * to its deadline (10 s). Default 11 000 ms for the daemon, 0 offline.
   */
  settleMs?: number;
}

const keyOf = (orphan: Orphan): string => `${orphan.kind}\u0000${orphan.name}`;

/**
 * Scans (twice, `settleMs` apart, when applying beside a running daemon) and removes what is still orphaned.
 * Never throws for a failed removal: it is listed in `failed`.
 */
export async function collectGarbage(networks: () => NetworkView[], options: GcOptions): Promise<GcReport> {
  const scan: OrphanOptions = {
    daemonRunning: options.mode === "daemon",
    scope: { firewallNames: firewallNamesFor(options.pluginName), linkGroup: linkGroupFor(options.pluginName) },
  };
  const daemonRunning = scan.daemonRunning;
  let orphans = await scanOrphans(networks(), scan);
  const settleMs = options.settleMs ?? (daemonRunning ? 11_000 : 0);
  if (options.apply && orphans.length > 0 && settleMs > 0) {
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    const again = new Set((await scanOrphans(networks(), scan)).map(keyOf));
    orphans = orphans.filter((orphan) => again.has(keyOf(orphan)));
  }
  const report: GcReport = { mode: options.mode, applied: options.apply, orphans, removed: [], failed: [] };
  if (!options.apply) return report;
  // deleting one end of a veth pair deletes the other: skip peers already gone with their pair
  for (const orphan of orphans) {
    const error = await removeOrphan(orphan);
    if (error === undefined) report.removed.push(orphan.name);
    else report.failed.push({ name: orphan.name, error });
  }
  return report;
}

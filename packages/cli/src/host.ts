/**
 * What is on the host, read with the system tools (`ip`, `nft`, `iptables`) and /proc: used by `tsnet doctor` and
 * `tsnet gc`, never on a plugin request path, so spawning is fine here.
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { LINK_PREFIXES, POOL_VETH_PREFIX } from "@tsnet/bridge";
import { DEFAULT_FIREWALL_NAMES, type FirewallNames, tsnetTables } from "@tsnet/kernel";
import type { NetworkView } from "./state-view.js";

/** The outcome of one tool run. */
export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a tool with a timeout; never rejects (a missing binary is code 127). */
export function runTool(file: string, args: readonly string[], timeoutMs = 10_000): Promise<ToolResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { timeout: timeoutMs, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error === null) return resolve({ code: 0, stdout, stderr });
        const code = typeof error.code === "number" ? error.code : 127;
        resolve({ code, stdout: stdout ?? "", stderr: stderr || error.message });
      },
    );
  });
}

/** One host link: its name, its link group (0 = default) and, for a veth whose peer is in the same namespace, the peer's name. */
export interface HostLink {
  name: string;
  group: number;
  peer?: string;
}

/** Parses `ip -o link show` lines: `12: tsve-abc@tsvp-abc: <...>` (`@ifN` when the peer is elsewhere). */
export function parseIpLinks(text: string): HostLink[] {
  const links: HostLink[] = [];
  for (const line of text.split("\n")) {
    const match = /^\d+:\s+([^:@\s]+)(?:@([^:\s]+))?:/.exec(line);
    if (match?.[1] === undefined) continue;
    const peer = match[2];
    const groupText = /\bgroup ([^\s\\]+)/.exec(line)?.[1] ?? "default";
    const group = groupText === "default" ? 0 : /^\d+$/.test(groupText) ? Number(groupText) : -1;
    const link: HostLink = { name: match[1], group };
    if (peer !== undefined && !/^if\d+$/.test(peer) && peer !== "NONE") link.peer = peer;
    links.push(link);
  }
  return links;
}

/** Links of the host namespace. */
export async function hostLinks(): Promise<HostLink[]> {
  const result = await runTool("ip", ["-o", "link", "show"]);
  if (result.code !== 0) throw new Error(`ip -o link show: ${result.stderr.trim()}`);
  return parseIpLinks(result.stdout);
}

/** nftables tables as "family name", e.g. "inet tsnet"; undefined when nft cannot list them. */
export async function nftTableList(): Promise<string[] | undefined> {
  const result = await runTool("nft", ["list", "tables"]);
  if (result.code !== 0) return undefined;
  return result.stdout
    .split("\n")
    .map((line) => line.replace(/^table\s+/, "").trim())
    .filter(Boolean);
}

/** Rules of one iptables chain (`iptables -S CHAIN`), or undefined when the chain does not exist. */
export async function iptablesChain(chain: string, table = "filter"): Promise<string[] | undefined> {
  const result = await runTool("iptables", ["-t", table, "-S", chain]);
  if (result.code !== 0) return undefined;
  return result.stdout.split("\n").filter(Boolean);
}

/** Our jump rules in DOCKER-USER (tagged `--comment tsnet`), as `-A ...` lines. */
export function ourJumps(rules: readonly string[], names: FirewallNames = DEFAULT_FIREWALL_NAMES): string[] {
  const { comment, chain } = names;
  return rules.filter(
    (rule) => rule.startsWith("-A ") && rule.includes(`--comment ${comment} `) && rule.endsWith(`-j ${chain}`),
  );
}

/** A sysctl's value from /proc/sys, or undefined when it does not exist (e.g. br_netfilter not loaded). */
export async function readSysctl(name: string): Promise<string | undefined> {
  const path = `/proc/sys/${name.replace(/\./g, "/")}`;
  return (await readFile(path, "utf8").catch(() => undefined))?.trim();
}

/** Something on the host that tsnet made and no stored network owns. */
export interface Orphan {
  kind: "link" | "table" | "jump";
  /** Link name, "family name" of a table, or the iptables rule. */
  name: string;
  why: string;
}

/** Options of {@link findOrphans}. */
export interface OrphanOptions {
  /** A daemon runs: its veth pool's ready pairs (`tsvq-…` and their `tsvp-…` peers) are in use, not orphans. */
  daemonRunning: boolean;
  /**
   * Whose leftovers to look for: the plugin's firewall names and link group (`firewallNamesFor` / `linkGroupFor` of
   * compose.ts). Links in another group and tables or jumps with other names belong to other daemons on this host.
   * Default: the plugin named "tsnet" (default names, group 0).
   */
  scope?: { firewallNames: FirewallNames; linkGroup: number | undefined };
}

/**
 * The tsnet links, tables and DOCKER-USER jumps no stored network names. Links: tsnet prefixes (`tsbr-`, `tsve-`,
 * `tsvp-`, `tsvq-`) not named by a network's bridge or an endpoint's veths. Tables and the jump: present while no
 * network is stored (the firewall removes them when the last network goes).
 */
export function findOrphans(
  networks: readonly NetworkView[],
  host: {
    links: readonly HostLink[];
    tables: readonly string[] | undefined;
    dockerUser: readonly string[] | undefined;
  },
  options: OrphanOptions,
): Orphan[] {
  const owned = new Set<string>();
  for (const network of networks) {
    owned.add(network.bridge);
    for (const endpoint of network.endpoints) {
      owned.add(endpoint.hostVeth);
      owned.add(endpoint.peerVeth);
    }
  }
  const orphans: Orphan[] = [];
  const names = options.scope?.firewallNames ?? DEFAULT_FIREWALL_NAMES;
  const group = options.scope?.linkGroup ?? 0;
  for (const link of host.links) {
    if (link.group !== group) continue;
    if (!LINK_PREFIXES.some((prefix) => link.name.startsWith(prefix)) || owned.has(link.name)) continue;
    if (link.peer !== undefined && owned.has(link.peer)) continue;
    if (options.daemonRunning) {
      const pooled = link.name.startsWith(POOL_VETH_PREFIX) || link.peer?.startsWith(POOL_VETH_PREFIX) === true;
      if (pooled) continue;
    }
    orphans.push({ kind: "link", name: link.name, why: "tsnet link that no stored network or endpoint names" });
  }
  if (networks.length === 0) {
    const ours = new Set(tsnetTables(names));
    for (const table of host.tables ?? []) {
      if (ours.has(table)) orphans.push({ kind: "table", name: table, why: "tsnet table while no network is stored" });
    }
    for (const rule of ourJumps(host.dockerUser ?? [], names)) {
      orphans.push({ kind: "jump", name: rule, why: "tsnet jump in DOCKER-USER while no network is stored" });
    }
  }
  return orphans;
}

/** The orphans found now on this host, for these stored networks. */
export async function scanOrphans(networks: readonly NetworkView[], options: OrphanOptions): Promise<Orphan[]> {
  const [links, tables, dockerUser] = await Promise.all([hostLinks(), nftTableList(), iptablesChain("DOCKER-USER")]);
  return findOrphans(networks, { links, tables, dockerUser }, options);
}

/** Removes one orphan; resolves with an error text, or undefined when done (already gone counts as done). */
export async function removeOrphan(orphan: Orphan): Promise<string | undefined> {
  let result: ToolResult;
  if (orphan.kind === "link") {
    result = await runTool("ip", ["link", "delete", orphan.name]);
    if (result.code !== 0 && /Cannot find device/.test(result.stderr)) return undefined;
  } else if (orphan.kind === "table") {
    const [family = "", name = ""] = orphan.name.split(" ");
    result = await runTool("nft", ["delete", "table", family, name]);
    if (result.code !== 0 && /No such file/.test(result.stderr)) return undefined;
  } else {
    const spec = orphan.name.replace(/^-A /, "").split(" ");
    result = await runTool("iptables", ["-D", ...spec]);
  }
  return result.code === 0 ? undefined : result.stderr.trim() || `exit ${result.code}`;
}

import { readFile, writeFile } from "node:fs/promises";
import { type Logger, silentLogger } from "@tsnet/protocol";
import type { Firewall, FirewallNetwork } from "./firewall.js";
import { DEFAULT_FIREWALL_NAMES, type FirewallNames, renderDockerUserRules, renderRuleset } from "./firewall-render.js";
import { run } from "./namespace.js";
import { withSignal } from "./netlink-error.js";

export interface NftFirewallOptions {
  logger?: Logger;
  /** Program paths (default: found on PATH). iptables must be the nf_tables variant Docker uses (Debian's default). */
  nft?: string;
  iptables?: string;
  ip6tables?: string;
  /** Put accept rules into Docker's DOCKER-USER chain when it exists (default true). */
  dockerUser?: boolean;
  /** Write the sysctls the rules need: ip_forward, bridge-nf-call-iptables, route_localnet (default true). */
  sysctls?: boolean;
  /** Table, chain and comment names (default tsnet / TSNET-FORWARD / tsnet); tests pass unique ones. */
  names?: FirewallNames;
}

/**
 * `Firewall` over nftables: every change renders the whole tsnet ruleset and loads it with ONE `nft -f -`
 * (atomic; a bad script changes nothing). Concurrent `apply` calls coalesce: a burst produces at most two
 * nft runs, each with the latest state. Then, if Docker's `DOCKER-USER` chain exists (dockerd runs or ran),
 * our accepts go into a chain of ours jumped to from there, via `iptables-restore --noflush` (iptables-nft):
 * iptables-nft cannot read nft-native rules in its tables (an `iifname @set accept` lists as a bare
 * `-j ACCEPT`, which an iptables-save/restore would make real).
 *
 * dockerd rebuilds its chains when it restarts: call `ensureDockerUser()` periodically (e.g. every 10 s: two
 * `iptables -S` runs when nothing changed) or when Docker's events show a daemon restart; `apply` re-checks too.
 */
export class NftFirewall implements Firewall {
  private readonly log: Logger;
  private readonly options: Required<Omit<NftFirewallOptions, "logger">>;
  private readonly names: FirewallNames;
  private readonly jump: string;
  private desired: readonly FirewallNetwork[] = [];
  private requested = 0;
  private completed = 0;
  private running: Promise<void> | undefined;
  private lastScript: string | undefined;

  constructor(options: NftFirewallOptions = {}) {
    this.log = options.logger ?? silentLogger;
    this.options = {
      nft: options.nft ?? "nft",
      iptables: options.iptables ?? "iptables",
      ip6tables: options.ip6tables ?? "ip6tables",
      dockerUser: options.dockerUser ?? true,
      sysctls: options.sysctls ?? true,
      names: options.names ?? DEFAULT_FIREWALL_NAMES,
    };
    this.names = this.options.names;
    this.jump = `-m comment --comment ${this.names.comment} -j ${this.names.chain}`;
  }

  /** The nft script `apply(networks)` would load (pure; for tests and `tsnet` diagnostics). */
  render(networks: readonly FirewallNetwork[]): string {
    return renderRuleset(networks, this.names);
  }

  /**
   * Makes the host firewall match `networks` (the whole desired state, not a delta). Resolves once a run that
   * includes this state has finished. Throws INVALID_ARGUMENT (bad input, nothing changed), INTERNAL (nft or
   * iptables refused; the previous ruleset stays), UNAVAILABLE (signal).
   */
  async apply(networks: readonly FirewallNetwork[], signal?: AbortSignal): Promise<void> {
    renderRuleset(networks, this.names); // validate now, so a bad input fails its own caller and no one else's
    this.desired = [...networks];
    const mine = ++this.requested;
    while (this.completed < mine) {
      if (this.running === undefined) {
        this.running = this.runOnce().finally(() => {
          this.running = undefined;
        });
      }
      const current = this.running;
      if (signal === undefined) await current;
      else await withSignal(current, signal, "apply firewall");
    }
  }

  /** Removes every tsnet table, our DOCKER-USER jump and chain. Nothing of ours left counts as success. */
  async flush(signal?: AbortSignal): Promise<void> {
    while (this.running !== undefined) await this.running.catch(() => {});
    this.desired = [];
    this.lastScript = undefined;
    await run(this.options.nft, ["-f", "-"], signal, renderRuleset([], this.names));
    for (const family of [4, 6] as const) await this.removeDockerUser(family, signal);
    this.completed = this.requested;
  }

  /**
   * Re-checks our rules in Docker's DOCKER-USER (and ip6) chain against the current state and restores them if
   * dockerd (re)started or someone flushed them. Returns true when it had to repair something.
   */
  async ensureDockerUser(signal?: AbortSignal): Promise<boolean> {
    if (!this.options.dockerUser) return false;
    let repaired = false;
    for (const family of [4, 6] as const) {
      if (await this.syncDockerUser(family, this.desired, signal)) repaired = true;
    }
    return repaired;
  }

  /**
   * Calls `ensureDockerUser()` every `intervalMs` (default 10 s) on an unref'd timer, so rules that a dockerd
   * restart or a firewall reload removed come back within one interval. Returns the function that stops it.
   */
  watchDockerUser(intervalMs = 10_000): () => void {
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      this.ensureDockerUser()
        .then((repaired) => {
          if (repaired) this.log.warn({}, "DOCKER-USER rules were missing and have been restored");
        })
        .catch((error: unknown) => this.log.error({ err: error }, "DOCKER-USER check failed"))
        .finally(() => {
          busy = false;
        });
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  private async runOnce(): Promise<void> {
    const generation = this.requested;
    const networks = this.desired;
    const script = renderRuleset(networks, this.names);
    if (script !== this.lastScript) {
      if (this.options.sysctls) await this.writeSysctls(networks);
      await run(this.options.nft, ["-f", "-"], undefined, script);
      this.lastScript = script;
      this.log.debug({ networks: networks.length }, "firewall applied");
    }
    if (this.options.dockerUser) {
      for (const family of [4, 6] as const) await this.syncDockerUser(family, networks, undefined);
    }
    this.completed = generation;
  }

  /** Lists DOCKER-USER and our chain; undefined when Docker's chain does not exist in this family. */
  private async readDockerUser(
    family: 4 | 6,
    signal: AbortSignal | undefined,
  ): Promise<{ hasJump: boolean; ours: string[] } | undefined> {
    const program = family === 4 ? this.options.iptables : this.options.ip6tables;
    let listing: string;
    try {
      listing = await run(program, ["-w", "-t", "filter", "-S"], signal);
    } catch {
      return undefined; // no filter table (never a dockerd) or no such program: nothing to fight
    }
    const lines = listing.split("\n");
    if (!lines.includes("-N DOCKER-USER")) return undefined;
    const hasJump = lines.some((line) => line.startsWith("-A DOCKER-USER ") && line.includes(`-j ${this.names.chain}`));
    const prefix = `-A ${this.names.chain} `;
    const ours = lines.filter((line) => line.startsWith(prefix)).map((line) => line.slice(prefix.length));
    return { hasJump, ours };
  }

  private async syncDockerUser(
    family: 4 | 6,
    networks: readonly FirewallNetwork[],
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    const current = await this.readDockerUser(family, signal);
    if (current === undefined) return false;
    const wanted = renderDockerUserRules(networks, family, this.names);
    if (wanted.length === 0) {
      if (!current.hasJump && current.ours.length === 0) return false;
      await this.removeDockerUser(family, signal);
      return true;
    }
    const normalised = (rules: readonly string[]) => rules.map((rule) => rule.replace(/\s+/g, " ").trim());
    if (current.hasJump && normalised(current.ours).join("\n") === normalised(wanted).join("\n")) {
      return false;
    }
    const input = [
      "*filter",
      `:${this.names.chain} - [0:0]`,
      ...wanted.map((rule) => `-A ${this.names.chain} ${rule}`),
      ...(current.hasJump ? [] : [`-I DOCKER-USER 1 ${this.jump}`]),
      "COMMIT",
      "",
    ].join("\n");
    await run(
      `${family === 4 ? this.options.iptables : this.options.ip6tables}-restore`,
      ["-w", "--noflush"],
      signal,
      input,
    );
    this.log.info({ family, rules: wanted.length, jumpRestored: !current.hasJump }, "DOCKER-USER rules written");
    return true;
  }

  private async removeDockerUser(family: 4 | 6, signal: AbortSignal | undefined): Promise<void> {
    const current = await this.readDockerUser(family, signal);
    if (current === undefined) return;
    const program = family === 4 ? this.options.iptables : this.options.ip6tables;
    const lines = ["*filter"];
    if (current.hasJump) lines.push(`-D DOCKER-USER ${this.jump}`);
    lines.push("COMMIT", "");
    if (current.hasJump) await run(`${program}-restore`, ["-w", "--noflush"], signal, lines.join("\n"));
    try {
      await run(program, ["-w", "-t", "filter", "-F", this.names.chain], signal);
      await run(program, ["-w", "-t", "filter", "-X", this.names.chain], signal);
    } catch {
      // our chain was not there
    }
  }

  /**
   * The sysctls our rules depend on, written only when they differ (all per network namespace):
   * - net.ipv4.ip_forward / net.ipv6.conf.all.forwarding = 1: routing out of and into the bridges (Docker sets
   *   them too at start).
   * - net.bridge.bridge-nf-call-iptables (and -ip6tables) = 1 when a network has icc=false: traffic between two
   *   ports of one bridge only reaches the inet forward hook (our ICC drop) through br_netfilter; this kernel
   *   lacks nft's bridge meta matches, so the drop cannot live in a bridge-family table. dockerd sets it to 1.
   * - net.ipv4.conf.BRIDGE.route_localnet = 1 for bridges with published ports: lets a 127.0.0.1-sourced packet
   *   DNATed to a container leave through the bridge (Docker does the same without its userland proxy).
   */
  private async writeSysctls(networks: readonly FirewallNetwork[]): Promise<void> {
    const wants = new Map<string, string>();
    const hasV6 = (n: FirewallNetwork) => n.subnets.some((s) => s.includes(":"));
    const hasV4 = (n: FirewallNetwork) => n.subnets.some((s) => !s.includes(":"));
    if (networks.some((n) => hasV4(n))) wants.set("net/ipv4/ip_forward", "1");
    if (networks.some((n) => !n.internal && hasV6(n))) wants.set("net/ipv6/conf/all/forwarding", "1");
    if (networks.some((n) => !n.icc)) {
      wants.set("net/bridge/bridge-nf-call-iptables", "1");
      if (networks.some((n) => !n.icc && hasV6(n))) wants.set("net/bridge/bridge-nf-call-ip6tables", "1");
    }
    for (const n of networks) {
      if (!n.internal && n.publishes.some((p) => !p.containerIp.includes(":"))) {
        wants.set(`net/ipv4/conf/${n.bridge}/route_localnet`, "1");
      }
    }
    for (const [key, value] of wants) {
      const path = `/proc/sys/${key}`;
      try {
        if ((await readFile(path, "utf8")).trim() === value) continue;
        await writeFile(path, value);
        this.log.info({ sysctl: key.replaceAll("/", "."), value }, "sysctl set");
      } catch (error) {
        // A bridge not created yet has no conf entry; the next apply (after it exists) writes it.
        this.log.warn({ err: error, sysctl: key.replaceAll("/", ".") }, "sysctl not written");
      }
    }
  }
}

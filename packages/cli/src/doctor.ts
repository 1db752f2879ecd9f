/**
 * `tsnet doctor`: checks what breaks Docker network plugins in practice and says, for each problem, what to do.
 * Every check runs even when an earlier one fails; nothing is changed on the host (the kernel check creates and
 * deletes a throwaway bridge and veth pair with a `tsdr` prefix).
 */
import { randomBytes } from "node:crypto";
import { stat } from "node:fs/promises";
import { connect } from "node:net";
import { basename, dirname, join } from "node:path";
import type { DaemonStatus } from "./admin.js";
import { adminJson, adminRequest, DaemonUnreachableError } from "./admin-client.js";
import { firewallNamesFor } from "./compose.js";
import { DOCKER_SOCKET, dockerPluginId } from "./docker-api.js";
import type { GcReport } from "./gc.js";
import { iptablesChain, nftTableList, ourJumps, readSysctl, runTool } from "./host.js";
import type { NetworkView } from "./state-view.js";

/** One check's outcome. `problem` checks make doctor exit 1. */
export interface Check {
  name: string;
  status: "ok" | "problem" | "info";
  detail: string;
  /** What to do about a problem. */
  fix?: string;
}

/** Where doctor looks. */
export interface DoctorTargets {
  socket: string;
  adminSocket: string;
  stateDir: string;
}

const ok = (name: string, detail: string): Check => ({ name, status: "ok", detail });
const info = (name: string, detail: string): Check => ({ name, status: "info", detail });
const problem = (name: string, detail: string, fix: string): Check => ({ name, status: "problem", detail, fix });

async function checkKernel(): Promise<Check[]> {
  const tag = randomBytes(3).toString("hex");
  const bridge = `tsdrb${tag}`;
  const veth = `tsdrv${tag}`;
  const checks: Check[] = [];
  const made = await runTool("ip", ["link", "add", bridge, "type", "bridge"]);
  checks.push(
    made.code === 0
      ? ok("kernel: bridge", "a bridge can be created")
      : problem(
          "kernel: bridge",
          `cannot create a bridge: ${made.stderr.trim()}`,
          "run as root on a kernel with bridge support (CONFIG_BRIDGE)",
        ),
  );
  await runTool("ip", ["link", "delete", bridge]);
  const pair = await runTool("ip", ["link", "add", veth, "type", "veth", "peer", "name", `${veth}p`]);
  checks.push(
    pair.code === 0
      ? ok("kernel: veth", "a veth pair can be created")
      : problem(
          "kernel: veth",
          `cannot create a veth pair: ${pair.stderr.trim()}`,
          "run as root on a kernel with veth support (CONFIG_VETH)",
        ),
  );
  await runTool("ip", ["link", "delete", veth]);
  const tables = await nftTableList();
  checks.push(
    tables !== undefined
      ? ok("kernel: nftables", `nft lists ${tables.length} table(s)`)
      : problem(
          "kernel: nftables",
          "`nft list tables` failed",
          "install nftables (`apt-get install nftables`) and run as root",
        ),
  );
  const restore = await runTool("iptables-restore", ["--version"]);
  checks.push(
    restore.code === 0
      ? ok("tools: iptables-restore", restore.stdout.trim())
      : problem(
          "tools: iptables-restore",
          "not found",
          "install iptables (`apt-get install iptables`): the firewall writes DOCKER-USER with it",
        ),
  );
  return checks;
}

async function checkFirewall(
  networks: readonly NetworkView[] | undefined,
  pluginName: string | undefined,
): Promise<Check[]> {
  const checks: Check[] = [];
  const forward = await iptablesChain("FORWARD");
  const policy = forward?.find((rule) => rule.startsWith("-P FORWARD "))?.split(" ")[2];
  const dockerUser = await iptablesChain("DOCKER-USER");
  const hasNetworks = (networks?.length ?? 0) > 0;
  if (policy === undefined) checks.push(info("docker: FORWARD policy", "iptables FORWARD chain not readable"));
  else checks.push(info("docker: FORWARD policy", `${policy}${policy === "DROP" ? " (set by dockerd)" : ""}`));
  if (dockerUser === undefined) {
    checks.push(
      policy === "DROP" && hasNetworks
        ? problem(
            "docker: DOCKER-USER",
            "missing while FORWARD drops: tsnet containers cannot reach anything outside their bridge",
            "start dockerd with iptables enabled (it creates DOCKER-USER), then restart tsnet",
          )
        : info("docker: DOCKER-USER", "absent (no dockerd firewall): nothing to hook into"),
    );
  } else {
    const jumps = ourJumps(dockerUser, firewallNamesFor(pluginName));
    if (hasNetworks && jumps.length === 0) {
      checks.push(
        problem(
          "docker: DOCKER-USER",
          "present but without tsnet's jump while networks exist: forwarded traffic of tsnet bridges is dropped",
          "wait 10 s (the daemon re-adds it) or restart tsnet; dockerd removes it when it restarts",
        ),
      );
    } else {
      checks.push(ok("docker: DOCKER-USER", hasNetworks ? "tsnet's jump is in place" : "present"));
    }
  }
  const nfCall = await readSysctl("net.bridge.bridge-nf-call-iptables");
  const noIcc = networks?.filter((network) => !network.icc) ?? [];
  if (nfCall === undefined) {
    checks.push(
      noIcc.length > 0
        ? problem(
            "sysctl: bridge-nf-call-iptables",
            "absent (br_netfilter not loaded): enable_icc=false is not enforced",
            "modprobe br_netfilter",
          )
        : info("sysctl: bridge-nf-call-iptables", "absent (br_netfilter not loaded)"),
    );
  } else if (nfCall !== "1" && noIcc.length > 0) {
    checks.push(
      problem(
        "sysctl: bridge-nf-call-iptables",
        `${nfCall}: bridged traffic skips the firewall, so enable_icc=false networks are not isolated`,
        "sysctl -w net.bridge.bridge-nf-call-iptables=1",
      ),
    );
  } else {
    checks.push(
      ok(
        "sysctl: bridge-nf-call-iptables",
        `${nfCall}${nfCall === "1" ? " (bridged traffic passes FORWARD: DOCKER-USER jump needed)" : ""}`,
      ),
    );
  }
  const forwarding = await readSysctl("net.ipv4.ip_forward");
  const routed = networks?.some((network) => !network.internal) ?? false;
  checks.push(
    forwarding !== "1" && routed
      ? problem(
          "sysctl: ip_forward",
          `${forwarding ?? "unreadable"}: containers cannot leave the host`,
          "sysctl -w net.ipv4.ip_forward=1",
        )
      : ok("sysctl: ip_forward", forwarding ?? "unreadable"),
  );
  return checks;
}

async function checkSocket(name: string, path: string, mode: number, running: boolean): Promise<Check> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) {
    return running
      ? problem(name, `${path} does not exist`, "restart tsnet: it creates the socket at start")
      : problem(
          name,
          `${path} does not exist (daemon not running?)`,
          "start the daemon: tsnet serve (or docker plugin enable)",
        );
  }
  if (!info.isSocket()) return problem(name, `${path} is not a socket`, `remove ${path} and restart tsnet`);
  const actual = info.mode & 0o777;
  if (actual !== mode) {
    return problem(
      name,
      `${path} has mode ${actual.toString(8)}, expected ${mode.toString(8)}`,
      `chmod ${mode.toString(8)} ${path}`,
    );
  }
  if (info.uid !== 0) return problem(name, `${path} is owned by uid ${info.uid}`, `chown root ${path}`);
  return ok(name, `${path} mode ${mode.toString(8)}`);
}

/**
 * Where the host sees the plugin socket. A managed plugin reports its in-container path
 * (`/run/docker/plugins/tsnet.sock`); Docker serves it as `/run/docker/plugins/<plugin id>/tsnet.sock`.
 */
async function hostSocketPath(status: DaemonStatus | undefined, fallback: string): Promise<string> {
  if (status === undefined) return fallback;
  if ((await stat(status.socket).catch(() => undefined)) !== undefined || !status.pluginName.includes(":")) {
    return status.socket;
  }
  const id = await dockerPluginId(DOCKER_SOCKET, status.pluginName).catch(() => undefined);
  return id === undefined ? status.socket : join(dirname(status.socket), id, basename(status.socket));
}

/** Asks the lock's abstract socket who holds the state dir: its pid, or undefined when nobody does. */
async function lockHolder(stateDir: string): Promise<string | undefined> {
  const info = await stat(stateDir).catch(() => undefined);
  if (info === undefined) return undefined;
  const name = `\0tsnet-state-lock:${info.dev}:${info.ino}`;
  return new Promise((resolve) => {
    const socket = connect(name);
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      text += chunk;
    });
    socket.once("end", () => resolve(text.trim() || "unknown"));
    socket.once("error", () => resolve(undefined));
    socket.setTimeout(2_000, () => {
      socket.destroy();
      resolve("unknown");
    });
  });
}

/** Runs every check. */
export async function runDoctor(targets: DoctorTargets): Promise<Check[]> {
  const checks: Check[] = [];
  let status: DaemonStatus | undefined;
  let networks: NetworkView[] | undefined;
  try {
    status = await adminJson<DaemonStatus>(targets.adminSocket, "/v1/status");
    networks = await adminJson<NetworkView[]>(targets.adminSocket, "/v1/networks");
    checks.push(ok("daemon", `pid ${status.pid}, plugin ${status.pluginName}, up ${status.uptimeSeconds} s`));
  } catch (error) {
    const why = error instanceof DaemonUnreachableError ? error.reason : String(error);
    checks.push(
      problem(
        "daemon",
        `admin socket ${targets.adminSocket}: ${why}`,
        "start it: tsnet serve (or docker plugin enable NAME), or pass --admin-socket",
      ),
    );
  }
  const running = status !== undefined;
  checks.push(...(await checkKernel()));
  checks.push(...(await checkFirewall(networks, status?.pluginName)));
  checks.push(await checkSocket("socket: plugin", await hostSocketPath(status, targets.socket), 0o660, running));
  if (running) checks.push(await checkSocket("socket: admin", targets.adminSocket, 0o600, running));
  // a managed plugin reports its in-container state dir; on the host it is the mount's source (--state-dir)
  let stateDir = status?.stateDir ?? targets.stateDir;
  let holder = await lockHolder(stateDir);
  if (holder === undefined && stateDir !== targets.stateDir) {
    holder = await lockHolder(targets.stateDir);
    if (holder !== undefined) stateDir = targets.stateDir;
  }
  if (holder === undefined) {
    checks.push(
      running
        ? problem(
            "state dir lock",
            `${stateDir} is not locked although the daemon runs`,
            "restart tsnet: its store lost the lock",
          )
        : info("state dir lock", `${stateDir} is free (no daemon holds it)`),
    );
  } else if (running && holder === String(status?.pid)) {
    checks.push(ok("state dir lock", `${stateDir} held by the daemon (pid ${holder})`));
  } else {
    checks.push(
      problem(
        "state dir lock",
        `${stateDir} is held by pid ${holder}, which does not answer on ${targets.adminSocket}`,
        `check that process (ps -p ${holder}); stop it or point --admin-socket at its admin socket`,
      ),
    );
  }
  if (running) {
    try {
      const report = JSON.parse(await adminRequest(targets.adminSocket, "POST", "/v1/gc")) as GcReport;
      checks.push(
        report.orphans.length === 0
          ? ok("leftovers", "no tsnet link, table or jump without an owner")
          : problem(
              "leftovers",
              `${report.orphans.length} orphan(s): ${report.orphans.map((orphan) => orphan.name).join(", ")}`,
              "tsnet gc --apply",
            ),
      );
    } catch (error) {
      checks.push(problem("leftovers", `cannot scan: ${String(error)}`, "see the daemon's log"));
    }
  } else {
    checks.push(info("leftovers", "not scanned: the daemon is not running (tsnet gc --offline scans without it)"));
  }
  return checks;
}

/** Doctor's report as text: one line per check, then the fix for each problem. */
export function renderChecks(checks: readonly Check[]): string {
  const mark = { ok: "ok  ", problem: "FAIL", info: "info" } as const;
  const lines = checks.map((check) => `[${mark[check.status]}] ${check.name}: ${check.detail}`);
  const problems = checks.filter((check) => check.status === "problem");
  if (problems.length > 0) {
    lines.push("", `${problems.length} problem(s). What to do:`);
    for (const check of problems) lines.push(`  - ${check.name}: ${check.fix ?? "see above"}`);
  } else lines.push("", "No problems found.");
  return `${lines.join("\n")}\n`;
}

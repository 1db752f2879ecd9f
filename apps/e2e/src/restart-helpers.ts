// Helpers of the restart suites: what the IPAM holds (probed over the plugin socket), a container's endpoint and
// veth names, waiting for a daemon log line, and a private dockerd a test may restart without disturbing the
// machine's shared one.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { callPlugin, docker, RUN_PREFIX, tryDocker } from "./harness.js";

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The IPv4 addresses the plugin's IPAM holds in a /24 pool (`LocalDefault/SUBNET`), found by asking for each one:
 * a free address is granted (and released again at once), a held one refused. Run it while Docker is quiet on that
 * network, or a container could get an address between the two calls.
 */
export async function allocatedAddresses(socketPath: string, subnet: string): Promise<string[]> {
  const poolId = `LocalDefault/${subnet}`;
  const base = subnet.split("/")[0]?.split(".").slice(0, 3).join(".") ?? "";
  const held: string[] = [];
  for (let last = 1; last <= 254; last++) {
    const address = `${base}.${last}`;
    const reply = await callPlugin(
      socketPath,
      "IpamDriver.RequestAddress",
      JSON.stringify({ PoolID: poolId, Address: address, Options: {} }),
    );
    if (reply.status === 200 && !/"Error":"[^"]/.test(reply.body)) {
      await callPlugin(socketPath, "IpamDriver.ReleaseAddress", JSON.stringify({ PoolID: poolId, Address: address }));
    } else {
      held.push(address);
    }
  }
  return held;
}

/** True when the IPAM holds a pool for SUBNET (a RequestPool for it is refused as overlapping). */
export async function holdsPool(socketPath: string, subnet: string): Promise<boolean> {
  const reply = await callPlugin(
    socketPath,
    "IpamDriver.RequestPool",
    JSON.stringify({ AddressSpace: "LocalDefault", Pool: subnet, SubPool: "", Options: {}, V6: false }),
  );
  if (reply.status === 200 && !/"Error":"[^"]/.test(reply.body)) {
    const { PoolID } = JSON.parse(reply.body) as { PoolID: string };
    await callPlugin(socketPath, "IpamDriver.ReleasePool", JSON.stringify({ PoolID }));
    return false;
  }
  return true;
}

/** A container's EndpointID on one network. */
export function endpointIdOf(container: string, network: string): Promise<string> {
  return docker([
    "inspect",
    "--format",
    `{{(index .NetworkSettings.Networks ${JSON.stringify(network)}).EndpointID}}`,
    container,
  ]);
}

/** The bridge tsnet's bridge driver names after a NetworkID. */
export function bridgeOf(networkId: string): string {
  return `tsbr-${networkId.slice(0, 10).toLowerCase()}`;
}

/** Waits until `output()` matches `pattern` (polling); resolves with the match or throws with the output's tail. */
export async function waitForOutput(
  output: () => string,
  pattern: RegExp,
  timeoutMs = 30_000,
): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(output());
    if (match) return match;
    if (Date.now() > deadline) throw new Error(`no ${pattern} in the daemon's output:\n${output().slice(-3000)}`);
    await sleep(200);
  }
}

/** The last `reconciled with docker` log line of a daemon, parsed. */
export function lastDockerReconcile(output: string): Record<string, unknown> | undefined {
  const lines = output.split("\n").filter((line) => line.includes('"reconciled with docker"'));
  const last = lines.at(-1);
  return last === undefined ? undefined : (JSON.parse(last) as Record<string, unknown>);
}

/**
 * Kills the containerd shims (and the container processes under them) left by a private dockerd that could not
 * stop its containers; found by their `-namespace NAME` argument, which only this dockerd's containerd used.
 */
function killLeftoverShims(namespace: string): void {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    if (!argv[0]?.endsWith("containerd-shim-runc-v2") || argv[argv.indexOf("-namespace") + 1] !== namespace) continue;
    const shim = Number(entry);
    const children = (() => {
      try {
        return readFileSync(`/proc/${shim}/task/${shim}/children`, "utf8")
          .trim()
          .split(/\s+/)
          .filter(Boolean)
          .map(Number);
      } catch {
        return [];
      }
    })();
    for (const pid of [...children, shim]) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
}

/** A dockerd of the test's own: own data root, exec root, pid file, API socket and default bridge; no iptables. */
export interface PrivateDockerd {
  /** `unix:///run/<prefix>-docker.sock`: set as DOCKER_HOST for the docker CLI and the tsnet daemon. */
  host: string;
  /** SIGTERM and wait for exit (containers are stopped, as on a host shutdown). */
  stop(): Promise<void>;
  /** SIGKILL: a dockerd crash, no teardown calls to plugins (protocol.md §5.2). */
  kill9(): Promise<void>;
  /** Starts it again on the same directories and waits until it answers. */
  start(): Promise<void>;
  /** Stops it and removes its directories. */
  remove(): Promise<void>;
  log(): string;
}

/**
 * Starts a private dockerd, leaving the machine's shared one alone. Its containerd is its own (started by dockerd
 * under the exec root) with its own namespaces. The v1 plugin directory /run/docker/plugins is shared with the
 * shared dockerd, which is harmless with unique plugin names.
 */
/** Runs a command to its end; its failure is ignored (set-up and clean-up of the private dockerd's bridge). */
function run(file: string, args: string[]): Promise<void> {
  return new Promise((resolve) => spawn(file, args, { stdio: "ignore" }).once("exit", () => resolve()));
}

export async function startPrivateDockerd(): Promise<PrivateDockerd> {
  const hex = randomBytes(3).toString("hex");
  const name = `${RUN_PREFIX}${hex}`;
  // Not a harness temp dir: cleanup() removes those while this dockerd may still run; remove() removes it.
  const dir = mkdtempSync(join(tmpdir(), `${RUN_PREFIX}-dockerd-`));
  const execRoot = `/run/${name}x`;
  const socket = `/run/${name}-docker.sock`;
  const host = `unix://${socket}`;
  const logFile = join(dir, "dockerd.log");
  let child: ChildProcess | undefined;
  const answers = async () =>
    (await tryDocker(["version", "--format", "{{.Server.Version}}"], { timeoutMs: 5_000 }).catch(() => undefined))
      ?.code === 0;
  const withHost = async <T>(work: () => Promise<T>): Promise<T> => {
    const previous = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = host;
    try {
      return await work();
    } finally {
      if (previous === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = previous;
    }
  };
  const start = async () => {
    mkdirSync(execRoot, { recursive: true });
    const log = openSync(logFile, "a");
    child = spawn(
      "/usr/sbin/dockerd",
      [
        "--data-root",
        join(dir, "data"),
        "--exec-root",
        execRoot,
        "--pidfile",
        join(dir, "dockerd.pid"),
        "-H",
        host,
        `--bridge=${bridge}`,
        "--iptables=false",
        "--ip-masq=false",
        "--containerd-namespace",
        name,
        "--containerd-plugins-namespace",
        `${name}p`,
      ],
      { stdio: ["ignore", log, log] },
    );
    closeSync(log);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (await withHost(answers)) return;
      if (child.exitCode !== null) break;
      await sleep(300);
    }
    throw new Error(`private dockerd did not answer:\n${readFileSync(logFile, "utf8").slice(-3000)}`);
  };
  const stop = async () => {
    const running = child;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once("exit", () => resolve()));
    running.kill("SIGTERM");
    const timer = setTimeout(() => running.kill("SIGKILL"), 60_000);
    await exited;
    clearTimeout(timer);
  };
  const kill9 = async () => {
    const running = child;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once("exit", () => resolve()));
    running.kill("SIGKILL");
    await exited;
    // Its containerd (dockerd's child, which it would have stopped) dies with it, as in a host crash; the shims
    // keep the containers running, and the next dockerd starts a fresh containerd that reconnects to them.
    const pidFile = join(execRoot, "containerd", "containerd.pid");
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8").trim()) : Number.NaN;
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
      await sleep(500);
    }
    // Without the pid file the next dockerd starts a containerd of its own instead of dialling a dead one's pid.
    rmSync(pidFile, { force: true });
  };
  // `--bridge=none` would make this dockerd delete the host's docker0 at start (dockerd removes the default bridge
  // interface when the bridge is disabled), breaking the shared dockerd; give it a default bridge of its own instead.
  const bridge = `${RUN_PREFIX}db`;
  await run("ip", ["link", "add", bridge, "type", "bridge"]);
  await run("ip", ["addr", "add", `10.254.${randomBytes(1)[0]}.1/24`, "dev", bridge]);
  try {
    await start();
  } catch (error) {
    await run("ip", ["link", "del", bridge]);
    throw error;
  }
  return {
    host,
    stop,
    kill9,
    start,
    async remove() {
      if (child !== undefined && child.exitCode === null && child.signalCode === null) {
        await withHost(async () => {
          const ids = (await tryDocker(["ps", "-aq"])).stdout.split("\n").filter(Boolean);
          if (ids.length > 0) await tryDocker(["rm", "-f", ...ids], { timeoutMs: 120_000 });
        }).catch(() => {});
      }
      await stop();
      killLeftoverShims(name);
      // The data root may hold overlay mounts of containers that never stopped: unmount before removing.
      await new Promise<void>((resolve) =>
        spawn(
          "sh",
          ["-c", `grep -o ' ${dir}[^ ]*\\| ${execRoot}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`],
          {
            stdio: "ignore",
          },
        ).once("exit", () => resolve()),
      );
      await run("ip", ["link", "del", bridge]);
      rmSync(execRoot, { recursive: true, force: true });
      if (existsSync(socket)) rmSync(socket, { force: true });
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : ""),
  };
}

// The harness every *.docker.test.ts shares: a Docker Engine that answers, a tiny busybox image, the real tsnet
// daemon on a per-run plugin socket, unique names, and cleanup that runs also when a test fails.
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The Debian Docker CLI. /usr/local/bin/docker on our machines is a different client; never use it. */
export const DOCKER = "/usr/bin/docker";
/** Where v1 plugin sockets live; fixed by Docker, whatever dockerd's --exec-root (protocol.md 1.1). */
export const PLUGIN_DIR = "/run/docker/plugins";
/** The repository root. */
export const ROOT: string = join(dirname(fileURLToPath(import.meta.url)), "../../..");
/** The built daemon entry point (`pnpm build` makes it). */
export const CLI_MAIN: string = join(ROOT, "packages/cli/dist/main.js");
/** The image the tests run: busybox only, made with `docker import` (no registry needed). */
export const TEST_IMAGE = "tsnet-busybox:test";

/**
 * This run's unique prefix: `tse2e` + 6 hex. Every network, container, plugin socket and temp dir a test makes
 * starts with it, so cleanup finds exactly what this run made and a developer's own `tsnet` is never touched.
 */
export const RUN_PREFIX: string = `tse2e${randomBytes(3).toString("hex")}`;

let counter = 0;
/** A fresh name under this run's prefix, e.g. `tse2e1a2b3cnet2`. Docker caches a plugin's activation by name, so a new plugin name also means a new activation. */
export function uniqueName(kind: string): string {
  counter += 1;
  return `${RUN_PREFIX}${kind}${counter}`;
}

/** The outcome of one docker CLI call. */
export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@link docker} and {@link tryDocker}. */
export interface DockerOptions {
  /** Kill the CLI after this long (default 60 s): a plugin that hangs makes docker hang forever (protocol.md 1.4). */
  timeoutMs?: number;
  /** Bytes for the CLI's stdin. */
  input?: Buffer | string;
}

/** Runs `/usr/bin/docker ARGS` and resolves with its exit code and output; never rejects for a non-zero exit. */
export function tryDocker(args: readonly string[], options: DockerOptions = {}): Promise<DockerResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      DOCKER,
      args,
      { timeout: options.timeoutMs ?? 60_000, killSignal: "SIGKILL", maxBuffer: 64 * 1024 * 1024, encoding: "utf8" },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== "number") {
          if (error.killed)
            reject(new Error(`docker ${args.join(" ")}: no answer within ${options.timeoutMs ?? 60_000} ms`));
          else reject(error);
          return;
        }
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Runs `/usr/bin/docker ARGS` and resolves with its trimmed stdout; rejects with Docker's error text on failure. */
export async function docker(args: readonly string[], options: DockerOptions = {}): Promise<string> {
  const result = await tryDocker(args, options);
  if (result.code !== 0) {
    throw new Error(`docker ${args.join(" ")} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
  }
  return result.stdout.trim();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What {@link ensureDocker} found or did. */
export interface DockerEngine {
  /** True when the harness started dockerd itself (it is left running for later suites). */
  startedByHarness: boolean;
  version: string;
  /** dockerd's log file when the harness started it. */
  logFile?: string;
}

let engine: Promise<DockerEngine> | undefined;

/**
 * Makes sure a Docker Engine answers `docker info`: reuses a running one, else starts `dockerd` in its own
 * session (so it outlives the test process) and waits up to 60 s. Memoised per process.
 * @throws Error when dockerd is not installed or does not answer in time.
 */
export function ensureDocker(): Promise<DockerEngine> {
  engine ??= startDockerIfNeeded();
  return engine;
}

async function serverVersion(): Promise<string | undefined> {
  const result = await tryDocker(["version", "--format", "{{.Server.Version}}"], { timeoutMs: 10_000 }).catch(
    () => undefined,
  );
  return result?.code === 0 ? result.stdout.trim() : undefined;
}

async function startDockerIfNeeded(): Promise<DockerEngine> {
  const running = await serverVersion();
  if (running) return { startedByHarness: false, version: running };
  if (!existsSync("/usr/sbin/dockerd"))
    throw new Error("no Docker Engine answers and /usr/sbin/dockerd is not installed");
  const logFile = join(tmpdir(), `${RUN_PREFIX}-dockerd.log`);
  const log = openSync(logFile, "a");
  const child = spawn("/usr/sbin/dockerd", [], { detached: true, stdio: ["ignore", log, log] });
  closeSync(log);
  child.unref();
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const version = await serverVersion();
    if (version) return { startedByHarness: true, version, logFile };
    if (child.exitCode !== null) break;
    await sleep(500);
  }
  throw new Error(`dockerd did not answer within 60 s; its log:\n${readFileSync(logFile, "utf8").slice(-3000)}`);
}

/** The first statically linked busybox on this machine (busybox-static installs /bin/busybox). */
function findBusybox(): string {
  for (const candidate of ["/bin/busybox", "/usr/bin/busybox", "/usr/sbin/busybox"]) {
    if (!existsSync(candidate)) continue;
    const head = readFileSync(candidate).subarray(0, 1 << 16);
    // A dynamically linked ELF names its interpreter (PT_INTERP); a static busybox has none.
    if (!head.includes("/lib64/ld-linux") && !head.includes("/lib/ld-linux")) return candidate;
  }
  throw new Error("no static busybox found: apt-get install busybox-static");
}

/**
 * Makes the test image when it is missing: a rootfs holding /bin/busybox and a symlink per applet
 * (`busybox --list-full`), imported with `docker import` and `CMD ["sh"]`. Resolves with the tag.
 * @throws Error when there is no static busybox or the import fails.
 */
export async function ensureBusyboxImage(tag: string = TEST_IMAGE): Promise<string> {
  await ensureDocker();
  if ((await tryDocker(["image", "inspect", "--format", "{{.Id}}", tag])).code === 0) return tag;
  const busybox = findBusybox();
  const rootfs = mkdtempSync(join(tmpdir(), `${RUN_PREFIX}-rootfs-`));
  try {
    for (const dir of ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "root", "proc", "sys", "dev"]) {
      mkdirSync(join(rootfs, dir), { recursive: true });
    }
    execFileSync("cp", [busybox, join(rootfs, "bin/busybox")]);
    const applets = execFileSync(busybox, ["--list-full"], { encoding: "utf8" }).split("\n").filter(Boolean);
    for (const applet of applets) {
      const target = join(rootfs, applet);
      if (applet === "bin/busybox" || existsSync(target)) continue;
      mkdirSync(dirname(target), { recursive: true });
      symlinkSync("/bin/busybox", target);
    }
    execFileSync("sh", ["-c", `printf 'root:x:0:0:root:/root:/bin/sh\\n' > "${rootfs}/etc/passwd"`]);
    execFileSync("sh", ["-c", `printf 'root:x:0:\\n' > "${rootfs}/etc/group"`]);
    const tar = execFileSync("tar", ["-C", rootfs, "-c", "."], { maxBuffer: 256 * 1024 * 1024 });
    await docker(["import", "--change", 'CMD ["sh"]', "-", tag], { input: tar, timeoutMs: 120_000 });
    return tag;
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }
}

/** The answer of one plugin call made over a unix socket. */
export interface PluginReply {
  status: number;
  body: string;
}

/** POSTs one plugin call (`/Plugin.Activate`, `/IpamDriver.RequestPool`, ...) to a unix socket, as dockerd would. */
export function callPlugin(socketPath: string, call: string, body = "", timeoutMs = 5_000): Promise<PluginReply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        method: "POST",
        path: `/${call}`,
        headers: { Accept: "application/vnd.docker.plugins.v1.2+json", "Content-Length": Buffer.byteLength(body) },
        timeout: timeoutMs,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${call} on ${socketPath}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** Polls `Plugin.Activate` on a socket until it answers 200; resolves with the interfaces it implements. */
export async function waitForPlugin(
  socketPath: string,
  timeoutMs = 20_000,
  isAlive: () => boolean = () => true,
): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline && isAlive()) {
    try {
      const reply = await callPlugin(socketPath, "Plugin.Activate", "", 2_000);
      if (reply.status === 200) return (JSON.parse(reply.body) as { Implements: string[] }).Implements;
      last = new Error(`Plugin.Activate answered ${reply.status}: ${reply.body}`);
    } catch (error) {
      last = error;
    }
    await sleep(100);
  }
  throw new Error(`${socketPath} did not answer Plugin.Activate: ${String(last)}`);
}

/** A real tsnet daemon the harness started. */
export interface RunningDaemon {
  /** The plugin name Docker knows it by (`-d NAME`, `--ipam-driver NAME`): the socket's basename. */
  name: string;
  socketPath: string;
  stateDir: string;
  pid: number;
  /** Its admin socket (a per-daemon temp path unless the test passed `--admin-socket`, then ""). */
  adminSocketPath: string;
  /** What its Plugin.Activate lists, e.g. ["NetworkDriver", "IpamDriver"]. */
  implements: string[];
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** SIGTERM, then wait for exit (SIGKILL after `graceMs`); resolves with the exit code or signal. */
  stop(graceMs?: number): Promise<number | NodeJS.Signals | null>;
  /** SIGKILL and wait for exit: a crash, as far as the state dir and Docker can tell. */
  kill9(): Promise<void>;
}

/** Options of {@link startDaemon}. */
export interface DaemonOptions {
  /** Plugin name, i.e. socket `/run/docker/plugins/<name>.sock`. Default: a fresh unique name. */
  socketName?: string;
  /** State directory. Default: a fresh temp dir, removed by {@link cleanup}. Pass the same dir to restart on it. */
  stateDir?: string;
  /** More arguments for `tsnet serve`. */
  args?: readonly string[];
  /** Environment additions (e.g. a log level). */
  env?: Record<string, string>;
  /** How long to wait for Plugin.Activate. Default 20 s. */
  readyTimeoutMs?: number;
  /**
   * Send the daemon's output to a file (read back by `output()`) rather than a pipe into this process. For
   * benchmarks: with a pipe, each log line wakes this process, which is also the client being timed; a real daemon
   * logs to journald or a file, not to dockerd.
   */
  outputToFile?: boolean;
}

let knownServeFlags: Set<string> | undefined;
/** The long options `tsnet serve --help` lists, read once per process. */
function serveFlags(): Set<string> {
  if (!knownServeFlags) {
    let help = "";
    try {
      help = execFileSync(process.execPath, [CLI_MAIN, "serve", "--help"], { encoding: "utf8", timeout: 15_000 });
    } catch (error) {
      help = String((error as { stdout?: unknown }).stdout ?? "");
    }
    knownServeFlags = new Set(help.match(/--[a-z][a-z-]*/g) ?? []);
  }
  return knownServeFlags;
}

/** The environment of a CLI the harness runs: ours without the developer's TSNET_* settings (TSNET_TEST stays). */
function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("TSNET_") || key === "TSNET_TEST") env[key] = value;
  }
  return { ...env, ...extra };
}

const daemons = new Set<ChildProcess>();
const stateDirs = new Set<string>();
/** Plugin name → the state dir its daemon last ran on, to revive a stopped daemon for cleanup. */
const daemonStateDirs = new Map<string, string>();

/** A fresh temp dir under this run's prefix, removed by {@link cleanup}. */
export function tempDir(kind: string): string {
  const dir = mkdtempSync(join(tmpdir(), `${RUN_PREFIX}-${kind}-`));
  stateDirs.add(dir);
  return dir;
}

function waitForExit(child: ChildProcess): Promise<number | NodeJS.Signals | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode ?? child.signalCode);
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal)));
}

/**
 * Spawns the built daemon (`node packages/cli/dist/main.js serve --socket ... --state-dir ...`) and waits until
 * its socket answers Plugin.Activate. The daemon is stopped by {@link cleanup} if the test does not stop it.
 * @throws Error when the CLI is not built, or the daemon exits or stays silent before it is ready (with its output).
 */
export async function startDaemon(options: DaemonOptions = {}): Promise<RunningDaemon> {
  if (!existsSync(CLI_MAIN)) throw new Error(`${CLI_MAIN} does not exist: run \`pnpm build\` first`);
  const name = options.socketName ?? uniqueName("plugin");
  const socketPath = join(PLUGIN_DIR, `${name}.sock`);
  const stateDir = options.stateDir ?? tempDir("state");
  mkdirSync(PLUGIN_DIR, { recursive: true });
  const extra = [...(options.args ?? [])];
  // Isolation from a developer's own daemon: an admin socket of its own (the default /run/tsnet/admin.sock is
  // one per host) and an empty config file instead of /etc/tsnet/config.json, unless the test passes its own.
  // Only where the built CLI has these flags (older builds reject unknown options).
  const scratch = tempDir("daemon");
  const flags = serveFlags();
  const adminSocketPath =
    extra.includes("--admin-socket") || !flags.has("--admin-socket") ? "" : join(scratch, "admin.sock");
  if (adminSocketPath) extra.push("--admin-socket", adminSocketPath);
  if (!extra.includes("--config") && flags.has("--config")) {
    writeFileSync(join(scratch, "config.json"), "{}\n");
    extra.push("--config", join(scratch, "config.json"));
  }
  const outputFile = options.outputToFile === true ? join(scratch, "output.log") : undefined;
  const outputFd = outputFile === undefined ? undefined : openSync(outputFile, "a");
  const child = spawn(
    process.execPath,
    [CLI_MAIN, "serve", "--socket", socketPath, "--state-dir", stateDir, ...extra],
    {
      stdio: ["ignore", outputFd ?? "pipe", outputFd ?? "pipe"],
      env: cliEnv(options.env),
    },
  );
  if (outputFd !== undefined) closeSync(outputFd);
  daemons.add(child);
  daemonStateDirs.set(name, stateDir);
  child.once("exit", () => daemons.delete(child));
  let piped = "";
  const readOutput = (): string => (outputFile === undefined ? piped : readFileSync(outputFile, "utf8"));
  child.stdout?.on("data", (chunk: Buffer) => {
    piped += chunk.toString("utf8");
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    piped += chunk.toString("utf8");
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  let implementsList: string[];
  try {
    implementsList = await waitForPlugin(socketPath, options.readyTimeoutMs ?? 20_000, alive);
  } catch (error) {
    child.kill("SIGKILL");
    await waitForExit(child);
    throw new Error(
      `the tsnet daemon did not become ready (${String(error)}); its output:\n${readOutput().slice(-4000)}`,
    );
  }
  if (child.pid === undefined) throw new Error("the tsnet daemon has no pid");
  return {
    name,
    socketPath,
    stateDir,
    adminSocketPath,
    pid: child.pid,
    implements: implementsList,
    output: readOutput,
    async stop(graceMs = 10_000) {
      if (!alive()) return child.exitCode ?? child.signalCode;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      const result = await waitForExit(child);
      clearTimeout(timer);
      return result;
    },
    async kill9() {
      if (alive()) child.kill("SIGKILL");
      await waitForExit(child);
    },
  };
}

/** A suite's shared setup whose failure fails each test instead of the whole uvu process. */
export interface Fixture<T> {
  /** For `suite.before(...)`: runs the setup once and keeps its value or its error. */
  setup(): Promise<void>;
  /** The setup's value; throws the setup's error (so each test reports it). */
  get(): T;
  /** Replaces the value (e.g. after a test restarted a daemon). */
  set(value: T): void;
}

/**
 * Wraps a suite's setup. uvu 0.5 has no catch around `before` hooks: a throwing hook ends the whole run without its
 * Total/Passed block, losing every other suite's results. With a fixture, the tests of this suite fail one by one
 * with the setup's error, and the other suites still run.
 */
export function fixture<T>(create: () => Promise<T>): Fixture<T> {
  let state: { ok: true; value: T } | { ok: false; error: unknown } = {
    ok: false,
    error: new Error("the suite's setup has not run"),
  };
  return {
    async setup() {
      try {
        state = { ok: true, value: await create() };
      } catch (error) {
        state = { ok: false, error };
      }
    },
    get() {
      if (!state.ok) throw state.error;
      return state.value;
    },
    set(value: T) {
      state = { ok: true, value };
    },
  };
}

/** The outcome of a CLI run that was expected to end by itself. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/**
 * Runs the built CLI (`node packages/cli/dist/main.js ARGS`) to completion, e.g. a `serve` that must refuse to
 * start. Killed with SIGKILL after `timeoutMs` (default 15 s).
 */
export function runCli(args: readonly string[], timeoutMs = 15_000): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], { stdio: ["ignore", "pipe", "pipe"], env: cliEnv() });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

/**
 * A /24 in 10.200.0.0–10.249.255.0 that no host route and no Docker network of this machine overlaps. Tests
 * never route traffic outside these subnets.
 */
export async function freeSubnet(): Promise<string> {
  const routes = execFileSync("ip", ["-4", "route", "show", "table", "all"], { encoding: "utf8" });
  const ids = (await docker(["network", "ls", "-q"])).split("\n").filter(Boolean);
  // tryDocker: a network removed between `ls` and `inspect` (another test running) must not fail the lookup;
  // docker still prints the ones it found.
  const used = (
    await tryDocker(["network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", ...ids])
  ).stdout;
  for (let attempt = 0; attempt < 200; attempt++) {
    const second = 200 + ((randomBytes(1)[0] ?? 0) % 50);
    const third = randomBytes(1)[0] ?? 0;
    const prefix = `10.${second}.${third}.`;
    if (reservedSubnets.has(`${prefix}0/24`)) continue;
    if (routes.includes(`10.${second}.`) || used.includes(`10.${second}.`)) continue;
    reservedSubnets.add(`${prefix}0/24`);
    return `${prefix}0/24`;
  }
  throw new Error("no free /24 in 10.200.0.0/16-10.249.0.0/16");
}
const reservedSubnets = new Set<string>();

/** Options of {@link createNetwork}; each maps to the `docker network create` flag of the same name. */
export interface NetworkSpec {
  /** `-d`; default "bridge". */
  driver?: string;
  /** `--ipam-driver`. */
  ipamDriver?: string;
  /** `--subnet`, one per entry. */
  subnets?: readonly string[];
  /** `--ip-range`, `--gateway`, one per entry. */
  ipRanges?: readonly string[];
  gateways?: readonly string[];
  /** `--aux-address name=ip`. */
  auxAddresses?: Record<string, string>;
  /** `-o key=value`. */
  options?: Record<string, string>;
  /** `--ipam-opt key=value`. */
  ipamOptions?: Record<string, string>;
  internal?: boolean;
  ipv6?: boolean;
  /** Default: a fresh name under this run's prefix. */
  name?: string;
}

/** A network a test made; removed by {@link cleanup} if the test does not remove it. */
export interface TestNetwork {
  name: string;
  id: string;
}

/** `docker network create` from a spec; rejects with Docker's error text. */
export async function createNetwork(spec: NetworkSpec = {}): Promise<TestNetwork> {
  const name = spec.name ?? uniqueName("net");
  const args = ["network", "create", "-d", spec.driver ?? "bridge"];
  if (spec.ipamDriver) args.push("--ipam-driver", spec.ipamDriver);
  for (const subnet of spec.subnets ?? []) args.push("--subnet", subnet);
  for (const range of spec.ipRanges ?? []) args.push("--ip-range", range);
  for (const gateway of spec.gateways ?? []) args.push("--gateway", gateway);
  for (const [key, ip] of Object.entries(spec.auxAddresses ?? {})) args.push("--aux-address", `${key}=${ip}`);
  for (const [key, value] of Object.entries(spec.options ?? {})) args.push("-o", `${key}=${value}`);
  for (const [key, value] of Object.entries(spec.ipamOptions ?? {})) args.push("--ipam-opt", `${key}=${value}`);
  if (spec.internal) args.push("--internal");
  if (spec.ipv6) args.push("--ipv6");
  args.push(name);
  return { name, id: await docker(args) };
}

/** Options of {@link runContainer}. */
export interface ContainerSpec {
  /** `--network` for `docker run`; more networks can be added with `docker network connect`. */
  network?: string;
  /** `--ip`, `--ip6`, `--mac-address`, `--network-alias`. */
  ip?: string;
  ip6?: string;
  mac?: string;
  aliases?: readonly string[];
  /** `-p` specs, e.g. "8080:80", "127.0.0.1:8081:80/udp". */
  publish?: readonly string[];
  /** Extra `docker run` flags. */
  flags?: readonly string[];
  /** The command; default `sleep 3600` so the container stays up for `docker exec`. */
  command?: readonly string[];
  image?: string;
  /** Default: a fresh name under this run's prefix. */
  name?: string;
}

/** A running test container, removed by {@link cleanup}. */
export interface TestContainer {
  name: string;
  id: string;
}

/** `docker run -d` of the busybox test image (made on first use); rejects with Docker's error text. */
export async function runContainer(spec: ContainerSpec = {}): Promise<TestContainer> {
  const image = spec.image ?? (await ensureBusyboxImage());
  const name = spec.name ?? uniqueName("ctr");
  const args = ["run", "-d", "--name", name];
  if (spec.network) args.push("--network", spec.network);
  if (spec.ip) args.push("--ip", spec.ip);
  if (spec.ip6) args.push("--ip6", spec.ip6);
  if (spec.mac) args.push("--mac-address", spec.mac);
  for (const alias of spec.aliases ?? []) args.push("--network-alias", alias);
  for (const port of spec.publish ?? []) args.push("-p", port);
  args.push(...(spec.flags ?? []), image, ...(spec.command ?? ["sleep", "3600"]));
  return { name, id: await docker(args, { timeoutMs: 90_000 }) };
}

/** `docker exec CONTAINER COMMAND...`: resolves with the exit code and output, never rejects for a non-zero exit. */
export function execIn(container: string, command: readonly string[], timeoutMs = 30_000): Promise<DockerResult> {
  return tryDocker(["exec", container, ...command], { timeoutMs });
}

/** The container's IPv4 address on one network (no prefix), as Docker reports it. */
export async function containerAddress(container: string, network: string): Promise<string> {
  return docker([
    "inspect",
    "--format",
    `{{(index .NetworkSettings.Networks ${JSON.stringify(network)}).IPAddress}}`,
    container,
  ]);
}

/** True when `ping -c 1 -W 2 TARGET` from inside the container gets an answer. */
export async function canPing(container: string, target: string): Promise<boolean> {
  return (await execIn(container, ["ping", "-c", "1", "-W", "2", target])).code === 0;
}

/** The container's IPv6 address on one network (no prefix), or "" when it has none. */
export async function containerAddress6(container: string, network: string): Promise<string> {
  return docker([
    "inspect",
    "--format",
    `{{(index .NetworkSettings.Networks ${JSON.stringify(network)}).GlobalIPv6Address}}`,
    container,
  ]);
}

/** `docker network connect [--ip IP] NETWORK CONTAINER`; rejects with Docker's error text. */
export async function connect(network: string, container: string, ip?: string): Promise<void> {
  await docker(["network", "connect", ...(ip ? ["--ip", ip] : []), network, container]);
}

/** `docker network disconnect NETWORK CONTAINER`; rejects with Docker's error text. */
export async function disconnect(network: string, container: string): Promise<void> {
  await docker(["network", "disconnect", network, container]);
}

/** Names of the host's links (root namespace) that start with `prefix`, e.g. "ts" for everything tsnet made. */
export function hostLinks(prefix: string): string[] {
  return linkNames().filter((name) => name.startsWith(prefix));
}

/**
 * EndpointID → the host veth the bridge driver recorded for it, from the endpoint journals of every daemon this
 * process started (`<state dir>/endpoints/journal.jsonl`, one JSON line per committed transaction). The last
 * record written wins and a deleted one still counts: tests ask whether an endpoint's veth is gone. Host ends from
 * the veth pool carry pool names, not the EndpointID, so this is how a test finds them.
 */
function recordedVeths(): Map<string, string> {
  const found = new Map<string, string>();
  for (const stateDir of new Set([...stateDirs, ...daemonStateDirs.values()])) {
    let text = "";
    try {
      text = readFileSync(join(stateDir, "endpoints", "journal.jsonl"), "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n")) {
      if (line === "") continue;
      let writes: Array<[string, { id?: unknown; hostVeth?: unknown } | null]>;
      try {
        writes = JSON.parse(line);
      } catch {
        continue; // a line cut short by a kill
      }
      for (const [key, value] of writes) {
        if (!key.startsWith("bridge/endpoints/") || value === null) continue;
        if (typeof value.id === "string" && typeof value.hostVeth === "string") found.set(value.id, value.hostVeth);
      }
    }
  }
  return found;
}

/** Names of the host's links, optionally only the ports of `bridge`. */
function linkNames(bridge?: string): string[] {
  const args = bridge === undefined ? ["-o", "link", "show"] : ["-o", "link", "show", "master", bridge];
  return execFileSync("ip", args, { encoding: "utf8" })
    .split("\n")
    .map((line) => /^\d+:\s+([^:@]+)/.exec(line)?.[1] ?? "")
    .filter(Boolean);
}

/** The host veth of an endpoint (see {@link recordedVeths}) while it exists; undefined once it is gone. */
export function endpointVeth(endpointId: string): string | undefined {
  const name = recordedVeths().get(endpointId);
  return name !== undefined && linkNames().includes(name) ? name : undefined;
}

/** The ports of `bridge` that were endpoints' veths; the veth pool's ready pairs (never recorded) are left out. */
export function endpointPorts(bridge: string): string[] {
  const recorded = new Set(recordedVeths().values());
  return linkNames(bridge).filter((name) => recorded.has(name));
}

/** The host's nftables tables as "family name" lines, e.g. "inet tsnet". */
export function nftTables(): string[] {
  const text = execFileSync("nft", ["list", "tables"], { encoding: "utf8" });
  return text
    .split("\n")
    .map((line) => line.replace(/^table\s+/, "").trim())
    .filter(Boolean);
}

/**
 * Fetches `http://HOST:PORT/PATH` from the host (the test process) with a timeout; resolves with the status and
 * body, or rejects on connection failure. For `-p` published ports; containers serve with `httpd` from busybox.
 */
export async function hostFetch(url: string, timeoutMs = 5_000): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: response.status, body: await response.text() };
}

/** Polls `check` every 100 ms until it resolves true or `timeoutMs` passes; resolves with the last answer. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(100);
  }
  return check();
}

/** Names (with this run's prefix) of containers and networks that exist now. */
async function leftovers(): Promise<{ containers: string[]; networks: string[] }> {
  const names = async (args: string[]) =>
    (await docker(args, { timeoutMs: 30_000 }).catch(() => ""))
      .split("\n")
      .map((name) => name.trim().replace(/^\//, ""))
      .filter((name) => name.startsWith(RUN_PREFIX));
  return {
    containers: await names(["ps", "-a", "--filter", `name=${RUN_PREFIX}`, "--format", "{{.Names}}"]),
    networks: await names(["network", "ls", "--filter", `name=${RUN_PREFIX}`, "--format", "{{.Name}}"]),
  };
}

/**
 * Removes everything this run made, in the order that keeps Docker happy: containers, then networks (while the
 * plugins that own them still answer), then the daemons the harness started, their sockets and state dirs.
 * Safe to call more than once; call it from uvu `after` hooks. Resolves with what it had to remove.
 */
export async function cleanup(): Promise<{ containers: string[]; networks: string[] }> {
  // Never throws: it runs in uvu `after` hooks, where an exception would end the whole run without a summary.
  const step = async (what: string, work: () => Promise<unknown>) => {
    try {
      await work();
    } catch (error) {
      process.stderr.write(`[e2e cleanup] ${what}: ${String(error)}\n`);
    }
  };
  const found = await leftovers();
  await step("revive stopped daemons", () => reviveDaemonsFor(found.networks));
  if (found.containers.length > 0) {
    await step("rm containers", () => tryDocker(["rm", "-f", "-v", ...found.containers], { timeoutMs: 60_000 }));
  }
  for (const network of found.networks) {
    await step(`rm network ${network}`, () => tryDocker(["network", "rm", network], { timeoutMs: 60_000 }));
  }
  for (const child of [...daemons]) {
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await waitForExit(child);
    clearTimeout(timer);
  }
  await step("remove files", async () => removeFiles());
  return found;
}

/**
 * Docker cannot remove a network (or a container on it) whose plugin no longer answers: each call retries for
 * ~15 s and fails, and the network stays in Docker for good. When a test stopped or killed a daemon that still
 * owns networks (say it failed before restarting it), start it again on its socket and state dir for the cleanup.
 */
async function reviveDaemonsFor(networks: readonly string[]): Promise<void> {
  if (networks.length === 0) return;
  const drivers = await tryDocker(["network", "inspect", "--format", "{{.Driver}} {{.IPAM.Driver}}", ...networks]);
  const names = new Set(drivers.stdout.split(/\s+/).filter((name) => daemonStateDirs.has(name)));
  for (const name of names) {
    const socketPath = join(PLUGIN_DIR, `${name}.sock`);
    const answers = await callPlugin(socketPath, "Plugin.Activate", "", 1_000).then(
      (reply) => reply.status === 200,
      () => false,
    );
    const stateDir = daemonStateDirs.get(name);
    if (!answers && stateDir) await startDaemon({ socketName: name, stateDir });
  }
}

function removeFiles(): void {
  for (const dir of stateDirs) rmSync(dir, { recursive: true, force: true });
  stateDirs.clear();
  try {
    for (const entry of execFileSync("ls", [PLUGIN_DIR], { encoding: "utf8" }).split("\n")) {
      if (entry.startsWith(RUN_PREFIX)) rmSync(join(PLUGIN_DIR, entry), { force: true, recursive: true });
    }
  } catch {
    // no plugin dir: nothing of ours in it
  }
}

/**
 * Last-chance cleanup when the process exits without the `after` hooks having run (an uncaught error, SIGINT).
 * Synchronous: the event loop is gone, so an in-process plugin can no longer answer; daemons in child processes
 * still can, so their networks go first and the daemons last.
 */
function cleanupSync(): void {
  const run = (args: string[]) => {
    try {
      return execFileSync(DOCKER, args, { encoding: "utf8", timeout: 20_000, stdio: ["ignore", "pipe", "ignore"] });
    } catch {
      return "";
    }
  };
  const ours = (text: string) => text.split("\n").filter((name) => name.startsWith(RUN_PREFIX));
  const containers = ours(run(["ps", "-a", "--filter", `name=${RUN_PREFIX}`, "--format", "{{.Names}}"]));
  if (containers.length > 0) run(["rm", "-f", "-v", ...containers]);
  for (const network of ours(run(["network", "ls", "--filter", `name=${RUN_PREFIX}`, "--format", "{{.Name}}"]))) {
    run(["network", "rm", network]);
  }
  for (const child of daemons) child.kill("SIGKILL");
  removeFiles();
}

process.once("exit", cleanupSync);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void cleanup().finally(() => process.exit(130));
  });
}

/**
 * Builds a Docker managed (v2) plugin bundle of tsnet from what is on this machine (no registry): `config.json`
 * and `rootfs/` holding the host's node binary, the built daemon with its production dependencies (native prebuilt
 * modules included), nft and iptables-nft, and every shared library those need (as `ldd` lists them).
 */
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (apps/plugin/src → ../../..). */
export const REPO_ROOT: string = join(dirname(fileURLToPath(import.meta.url)), "../../..");

/** Where the daemon listens inside the plugin: Docker bind-mounts /run/docker/plugins/<id> there (protocol.md §1.1). */
export const PLUGIN_SOCKET = "/run/docker/plugins/tsnet.sock";
/** The state dir inside the plugin; a bind mount of the host's /var/lib/tsnet (settable), so state survives restarts. */
export const PLUGIN_STATE_DIR = "/var/lib/tsnet";
/** The admin socket's directory inside the plugin; a bind mount of the host's /run/tsnet (settable). */
export const PLUGIN_ADMIN_DIR = "/run/tsnet";

/** The plugin's entry point: makes /proc/sys writable, then runs the CLI (`/app/dist/main.js`). */
export const PLUGIN_ENTRY = "/app/plugin-entry.mjs";

/**
 * Docker runs a managed plugin with /proc/sys read-only (the default OCI spec's readonlyPaths; measured:
 * `/proc/sys ro` in the plugin's mountinfo), and runc refuses a mount under /proc. The firewall writes
 * per-bridge sysctls (route_localnet, so a port published on 127.0.0.1 reaches the container): without this,
 * `curl 127.0.0.1:PORT` got no answer from inside the plugin. With CAP_SYS_ADMIN the plugin may remount its own
 * /proc/sys read-write (keeping nosuid, nodev, noexec); libc's mount(2) through koffi, which the daemon ships anyway.
 * A failure is logged and the daemon starts regardless (the firewall then logs each sysctl it cannot write).
 */
export const PLUGIN_ENTRY_SOURCE = `// tsnet managed-plugin entry (written by @tsnet/plugin's buildBundle)
import koffi from "koffi";

const MS_NOSUID = 2;
const MS_NODEV = 4;
const MS_NOEXEC = 8;
const MS_REMOUNT = 32;
const MS_BIND = 4096;
let result;
try {
  const libc = koffi.load("libc.so.6");
  const mount = libc.func("int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const void *data)");
  result = mount(null, "/proc/sys", null, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC, null) === 0 ? "rw" : "failed";
} catch (error) {
  result = String(error);
}
process.stderr.write(JSON.stringify({ level: result === "rw" ? 30 : 40, time: Date.now(), pid: process.pid, procSys: result, msg: "plugin entry" }) + "\\n");
process.argv.splice(1, 1, "/app/dist/main.js");
await import("/app/dist/main.js");
`;

/** Docker's PluginConfig, the fields we set (moby api/types/plugin.go). */
export interface PluginConfig {
  description: string;
  documentation: string;
  entrypoint: string[];
  workdir: string;
  interface: { types: string[]; socket: string };
  network: { type: string };
  linux: { capabilities: string[]; allowAllDevices: boolean; devices: null };
  mounts: Array<{
    name: string;
    description: string;
    source: string;
    destination: string;
    type: string;
    options: string[];
    settable: string[];
  }>;
  env: Array<{ name: string; description: string; settable: string[]; value: string }>;
  args: { name: string; description: string; settable: string[] | null; value: string[] | null };
  propagatedMount: string;
}

/**
 * The plugin's config.json. Capabilities: NET_ADMIN (links, addresses, nftables), SYS_ADMIN (setns into the
 * host namespace handle, mounts), NET_RAW (iptables/nft open raw netlink sockets). `network.type: host` so links
 * are made in the host's namespace.
 */
export function pluginConfig(): PluginConfig {
  return {
    description: "tsnet: bridge network driver and IPAM (Docker remote driver protocol)",
    documentation: "https://github.com/tsnet/tsnet/tree/main/apps/plugin",
    entrypoint: [
      "/usr/bin/node",
      PLUGIN_ENTRY,
      "serve",
      "--socket",
      PLUGIN_SOCKET,
      "--state-dir",
      PLUGIN_STATE_DIR,
      "--admin-socket",
      `${PLUGIN_ADMIN_DIR}/admin.sock`,
    ],
    workdir: "/app",
    interface: { types: ["docker.networkdriver/1.0", "docker.ipamdriver/1.0"], socket: "tsnet.sock" },
    network: { type: "host" },
    linux: { capabilities: ["CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_NET_RAW"], allowAllDevices: false, devices: null },
    mounts: [
      {
        name: "state",
        description: "tsnet's state (networks, endpoints, pools): must outlive the plugin",
        source: PLUGIN_STATE_DIR,
        destination: PLUGIN_STATE_DIR,
        type: "bind",
        options: ["rbind", "rw"],
        settable: ["source"],
      },
      {
        name: "admin",
        description: "directory of the admin socket (tsnet status/ls/gc on the host)",
        source: PLUGIN_ADMIN_DIR,
        destination: PLUGIN_ADMIN_DIR,
        type: "bind",
        options: ["rbind", "rw"],
        settable: ["source"],
      },
    ],
    env: [
      {
        name: "TSNET_LOG_LEVEL",
        description: "trace, debug, info, warn, error, fatal or silent",
        settable: ["value"],
        value: "info",
      },
      {
        name: "TSNET_PLUGIN_NAME",
        description: "the name this plugin was created under, with its tag (e.g. tsnet/tsnet:latest)",
        settable: ["value"],
        value: "tsnet/tsnet:latest",
      },
    ],
    args: { name: "", description: "", settable: null, value: null },
    propagatedMount: "",
  };
}

/** Parses `ldd` output into the absolute paths of the libraries (and the loader) a binary needs. */
export function parseLdd(text: string): string[] {
  const paths: string[] = [];
  for (const line of text.split("\n")) {
    const arrow = /=>\s+(\/\S+)\s+\(0x/.exec(line);
    const plain = /^\s*(\/\S+)\s+\(0x/.exec(line);
    const path = arrow?.[1] ?? plain?.[1];
    if (path !== undefined && !paths.includes(path)) paths.push(path);
  }
  return paths;
}

function libsOf(binary: string): string[] {
  try {
    return parseLdd(execFileSync("ldd", [binary], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }));
  } catch {
    return []; // "not a dynamic executable"
  }
}

/** Copies `file` (resolving symlinks) to the same absolute path under `rootfs`, with its libraries. */
function copyWithLibraries(rootfs: string, file: string, as: string = file, seen = new Set<string>()): void {
  const target = join(rootfs, as);
  if (!existsSync(target)) {
    mkdirSync(dirname(target), { recursive: true });
    cpSync(realpathSync(file), target, { dereference: true });
  }
  for (const library of libsOf(file)) {
    if (seen.has(library)) continue;
    seen.add(library);
    copyWithLibraries(rootfs, library, library, seen);
  }
}

interface PackageJson {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

function readPackage(dir: string): PackageJson {
  return JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as PackageJson;
}

/** Finds `name` as Node would from `fromDir`: node_modules/<name> in it or an ancestor. */
function resolvePackageDir(name: string, fromDir: string): string | undefined {
  let dir = fromDir;
  for (;;) {
    const candidate = join(dir, "node_modules", name);
    if (existsSync(join(candidate, "package.json"))) return realpathSync(candidate);
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * Copies `packages/cli` and its production dependencies into `appDir` (`package.json`, `dist/`, `node_modules/`),
 * as `pnpm deploy --prod` would, without touching the workspace's own node_modules. Workspace packages contribute
 * `package.json` and `dist/` (tests and build info left out); others are copied whole. Optional dependencies are
 * taken when installed (the platform's prebuilt native modules). A second version of a name is nested under the
 * package that needs it.
 * @returns the packages copied, as `name@version`
 */
export function deployDaemon(appDir: string, cliDir: string = join(REPO_ROOT, "packages/cli")): string[] {
  const copied: string[] = [];
  const placed = new Map<string, string>(); // name → version at the top level
  const skipBuildOutput = (source: string) => !/\.test\.(js|d\.ts)(\.map)?$|\.tsbuildinfo$/.test(source);
  const copyWorkspacePackage = (from: string, to: string) => {
    mkdirSync(to, { recursive: true });
    cpSync(join(from, "package.json"), join(to, "package.json"));
    cpSync(join(from, "dist"), join(to, "dist"), { recursive: true, filter: skipBuildOutput });
  };
  copyWorkspacePackage(cliDir, appDir);
  copied.push(`${readPackage(cliDir).name}@${readPackage(cliDir).version}`);
  const queue: Array<{ from: string; deployedAt: string }> = [{ from: realpathSync(cliDir), deployedAt: appDir }];
  const visited = new Set<string>([realpathSync(cliDir)]);
  while (queue.length > 0) {
    const next = queue.shift();
    if (next === undefined) break;
    const manifest = readPackage(next.from);
    const wanted = { ...manifest.peerDependencies, ...manifest.optionalDependencies, ...manifest.dependencies };
    for (const name of Object.keys(wanted)) {
      if (name.startsWith("@types/")) continue; // type declarations some packages list as peers: not run
      const source = resolvePackageDir(name, next.from);
      if (source === undefined) {
        if (manifest.dependencies?.[name] !== undefined) {
          throw new Error(`${manifest.name} needs ${name}, which is not installed: run pnpm install`);
        }
        continue; // an optional or peer dependency not installed here (another platform's binary)
      }
      const version = readPackage(source).version;
      const topLevel = placed.get(name);
      let target: string;
      if (topLevel === undefined || topLevel === version) {
        target = join(appDir, "node_modules", name);
        if (topLevel === version && visited.has(source)) continue;
        placed.set(name, version);
      } else {
        target = join(next.deployedAt, "node_modules", name);
      }
      if (visited.has(source) && existsSync(target)) continue;
      visited.add(source);
      if (source.startsWith(join(REPO_ROOT, "packages")) || source.startsWith(join(REPO_ROOT, "apps"))) {
        copyWorkspacePackage(source, target);
      } else {
        mkdirSync(dirname(target), { recursive: true });
        cpSync(source, target, {
          recursive: true,
          dereference: true,
          filter: (path) => !path.slice(source.length).includes("/node_modules/"),
        });
      }
      copied.push(`${name}@${version}`);
      queue.push({ from: source, deployedAt: target });
    }
  }
  return copied;
}

function findFiles(dir: string, suffix: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...findFiles(path, suffix));
    else if (entry.isFile() && entry.name.endsWith(suffix)) found.push(path);
  }
  return found;
}

/** Which host program provides a tool: the first of PATH-like directories that has it. */
function which(tool: string): string {
  for (const dir of ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]) {
    const path = join(dir, tool);
    if (existsSync(path)) return path;
  }
  throw new Error(`${tool} is not installed on this machine (apt-get install nftables iptables iproute2)`);
}

/** What {@link buildBundle} made. */
export interface BundleSummary {
  dir: string;
  packages: string[];
  binaries: string[];
  bytes: number;
}

function sizeOf(path: string): number {
  const info = statSync(path, { throwIfNoEntry: false });
  if (info === undefined) return 0;
  if (!info.isDirectory()) return info.size;
  return readdirSync(path).reduce((sum, entry) => sum + sizeOf(join(path, entry)), 0);
}

/**
 * Writes the bundle into `dir` (emptied first): `config.json` and `rootfs/`. Needs the built CLI
 * (`packages/cli/dist`, from `pnpm --filter @tsnet/cli build`).
 * @throws Error when the CLI is not built, a dependency is not installed, or a tool is missing
 */
export function buildBundle(dir: string): BundleSummary {
  const cliDir = join(REPO_ROOT, "packages/cli");
  if (!existsSync(join(cliDir, "dist/main.js"))) {
    throw new Error(`${cliDir}/dist/main.js does not exist: run pnpm --filter @tsnet/cli build first`);
  }
  rmSync(dir, { recursive: true, force: true });
  const rootfs = join(dir, "rootfs");
  for (const path of [
    "app",
    "etc",
    "tmp",
    "proc",
    "sys",
    "dev",
    "run/docker/plugins",
    PLUGIN_ADMIN_DIR.slice(1),
    PLUGIN_STATE_DIR.slice(1),
  ]) {
    mkdirSync(join(rootfs, path), { recursive: true });
  }
  chmodSync(join(rootfs, "tmp"), 0o1777);
  const packages = deployDaemon(join(rootfs, "app"), cliDir);
  writeFileSync(join(rootfs, PLUGIN_ENTRY), PLUGIN_ENTRY_SOURCE);
  const binaries: string[] = [];
  copyWithLibraries(rootfs, process.execPath, "/usr/bin/node");
  binaries.push("/usr/bin/node");
  // the native modules' own libraries (libstdc++ etc.; mostly what node already brought)
  for (const native of findFiles(join(rootfs, "app/node_modules"), ".node")) {
    for (const library of libsOf(native)) copyWithLibraries(rootfs, library);
  }
  const nft = which("nft");
  copyWithLibraries(rootfs, nft, "/usr/sbin/nft");
  binaries.push("/usr/sbin/nft");
  // iptables-nft is one multi-call binary; the firewall runs it as iptables, iptables-restore, ip6tables
  const multi = realpathSync(which("iptables"));
  if (!multi.endsWith("xtables-nft-multi")) {
    throw new Error(
      `iptables is ${multi}, not iptables-nft (xtables-nft-multi): Docker and tsnet need the nf_tables variant`,
    );
  }
  copyWithLibraries(rootfs, multi, "/usr/sbin/xtables-nft-multi");
  for (const name of [
    "iptables",
    "iptables-restore",
    "iptables-save",
    "ip6tables",
    "ip6tables-restore",
    "ip6tables-save",
  ]) {
    symlinkSync("xtables-nft-multi", join(rootfs, "usr/sbin", name));
    binaries.push(`/usr/sbin/${name}`);
  }
  // iptables loads its matches (-m comment, -m conntrack, -p tcp) from here with dlopen: ldd cannot see them
  const extensions = "/usr/lib/x86_64-linux-gnu/xtables";
  if (existsSync(extensions)) {
    cpSync(extensions, join(rootfs, extensions), { recursive: true, dereference: true });
    for (const extension of findFiles(extensions, ".so")) {
      for (const library of libsOf(extension)) copyWithLibraries(rootfs, library);
    }
  }
  // `ip` lets `tsnet gc` and `tsnet doctor` run inside the plugin too
  copyWithLibraries(rootfs, which("ip"), "/usr/sbin/ip");
  binaries.push("/usr/sbin/ip");
  for (const file of ["/etc/protocols", "/etc/services", "/etc/ethertypes"]) {
    if (existsSync(file)) cpSync(file, join(rootfs, file));
  }
  writeFileSync(join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  writeFileSync(join(rootfs, "etc/group"), "root:x:0:\n");
  writeFileSync(join(dir, "config.json"), `${JSON.stringify(pluginConfig(), null, 2)}\n`);
  return { dir, packages, binaries, bytes: sizeOf(rootfs) };
}

/** The bundle's paths relative to its dir, for messages. */
export function describe(summary: BundleSummary): string {
  return [
    `bundle in ${summary.dir} (${(summary.bytes / 1024 / 1024).toFixed(1)} MiB):`,
    `  config.json`,
    `  rootfs/app: ${summary.packages.length} packages (${summary.packages.join(", ")})`,
    `  rootfs: ${summary.binaries.map((binary) => relative("/", binary)).join(", ")} + shared libraries`,
    "next:",
    `  docker plugin create tsnet/tsnet ${summary.dir}`,
    "  mkdir -p /var/lib/tsnet /run/tsnet && docker plugin enable tsnet/tsnet",
    "  docker network create -d tsnet/tsnet:latest --ipam-driver tsnet/tsnet:latest mynet",
  ].join("\n");
}

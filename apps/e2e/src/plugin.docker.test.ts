// tsnet as a Docker managed (v2) plugin: the bundle apps/plugin builds from this machine is created, enabled, serves
// a network that two containers ping across, and is disabled and removed leaving no link, table, jump or plugin.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  CLI_MAIN,
  canPing,
  cleanup,
  createNetwork,
  docker,
  ensureBusyboxImage,
  ensureDocker,
  eventually,
  fixture,
  freeSubnet,
  hostFetch,
  hostLinks,
  nftTables,
  ROOT,
  RUN_PREFIX,
  runContainer,
  tempDir,
  tryDocker,
} from "./harness.js";

/** `<prefix>/tsnet`: a fresh name per run (dockerd keys plugins by name); networks refer to it with its tag. */
const PLUGIN = `${RUN_PREFIX}/tsnet`;
const TAGGED = `${PLUGIN}:latest`;

interface Installed {
  stateDir: string;
  adminDir: string;
  pluginId: string;
}

/** Builds the bundle with apps/plugin (from source) into a temp dir; resolves with the dir. */
function buildBundle(): string {
  const dir = join(tempDir("bundle"), "tsnet");
  execFileSync(process.execPath, ["--conditions=@tsnet/source", "--import", "tsx", "src/build-bundle.ts", dir], {
    cwd: join(ROOT, "apps/plugin"),
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 180_000,
  });
  return dir;
}

async function removePlugin(): Promise<void> {
  await tryDocker(["plugin", "disable", "-f", PLUGIN], { timeoutMs: 60_000 });
  await tryDocker(["plugin", "rm", "-f", PLUGIN], { timeoutMs: 60_000 });
}

/** Our firewall's state: the nft tables whose rules name `needle` (our bridge or subnet), and the DOCKER-USER jumps to them. */
function firewallNaming(needle: string): { tables: string[]; jumps: string[] } {
  const tables = nftTables().filter((table) => {
    if (!table.includes("tsnet")) return false;
    const text = execFileSync("nft", ["list", "table", ...table.split(" ")], { encoding: "utf8" });
    return text.includes(needle);
  });
  const names = new Set(tables.map((table) => table.split(" ")[1]?.replace(/-nat$/, "") ?? ""));
  let rules = "";
  try {
    rules = execFileSync("iptables", ["-S", "DOCKER-USER"], { encoding: "utf8" });
  } catch {
    // no DOCKER-USER: no jumps
  }
  const jumps = rules.split("\n").filter((rule) => [...names].some((name) => rule.includes(`--comment ${name} `)));
  return { tables, jumps };
}

/** The link group (`ip link ... group N`) a link is in: each daemon stamps its own on every link it makes. */
function linkGroup(name: string): string {
  const line = execFileSync("ip", ["-o", "link", "show", "dev", name], { encoding: "utf8" });
  return /\bgroup (\S+)/.exec(line)?.[1] ?? "default";
}

/** Links in a group. */
function linksInGroup(group: string): string[] {
  const text = execFileSync("ip", ["-o", "link", "show", "group", group], { encoding: "utf8" });
  return text
    .split("\n")
    .map((line) => /^\d+:\s+([^:@]+)/.exec(line)?.[1] ?? "")
    .filter(Boolean);
}

let pluginGroup: string | undefined;

const test = suite("managed plugin");
const installed = fixture(async (): Promise<Installed> => {
  await ensureDocker();
  await ensureBusyboxImage();
  if (!existsSync(CLI_MAIN)) throw new Error(`${CLI_MAIN} does not exist: run pnpm build first`);
  const bundle = buildBundle();
  const stateDir = tempDir("pstate");
  const adminDir = tempDir("padmin");
  await docker(["plugin", "create", PLUGIN, bundle], { timeoutMs: 180_000 });
  // state and admin socket on this run's dirs instead of /var/lib/tsnet and /run/tsnet
  await docker([
    "plugin",
    "set",
    PLUGIN,
    `state.source=${stateDir}`,
    `admin.source=${adminDir}`,
    `TSNET_PLUGIN_NAME=${TAGGED}`,
  ]);
  await docker(["plugin", "enable", PLUGIN], { timeoutMs: 60_000 });
  const pluginId = await docker(["plugin", "inspect", "--format", "{{.Id}}", PLUGIN]);
  return { stateDir, adminDir, pluginId };
});
test.before(installed.setup);
test.after(async () => {
  await cleanup(); // containers, then networks while the plugin still answers
  await removePlugin();
});

test("docker plugin create + enable: the plugin serves its socket under /run/docker/plugins/<id>/", async () => {
  const { pluginId, adminDir } = installed.get();
  assert.is(await docker(["plugin", "inspect", "--format", "{{.Enabled}}", PLUGIN]), "true");
  const socket = `/run/docker/plugins/${pluginId}/tsnet.sock`;
  assert.ok(statSync(socket).isSocket(), `${socket} is not a socket`);
  assert.is(statSync(join(adminDir, "admin.sock")).mode & 0o777, 0o600);
});

test("network create -d NAME:latest, two containers ping by name, tsnet ls through the plugin's admin socket", async () => {
  const { adminDir, stateDir } = installed.get();
  const subnet = await freeSubnet();
  const network = await createNetwork({ driver: TAGGED, ipamDriver: TAGGED, subnets: [subnet] });
  const a = await runContainer({ network: network.name });
  const b = await runContainer({ network: network.name });
  assert.ok(await canPing(a.name, b.name), "a cannot ping b by name");
  assert.ok(await canPing(b.name, a.name), "b cannot ping a by name");
  const listing = JSON.parse(
    execFileSync(process.execPath, [CLI_MAIN, "ls", "--json", "--admin-socket", join(adminDir, "admin.sock")], {
      encoding: "utf8",
    }),
  ) as { networks: Array<{ id: string; endpoints: unknown[] }>; pools: Array<{ pool: string }> };
  assert.equal(
    listing.networks.map((n) => [n.id, n.endpoints.length]),
    [[network.id, 2]],
  );
  assert.equal(
    listing.pools.map((p) => p.pool),
    [subnet],
  );
  // the state lives on the mount, outside the plugin's rootfs
  assert.ok(existsSync(join(stateDir, "data.mdb")), "no store in the state mount");
  // doctor on the host finds the plugin's socket under /run/docker/plugins/<id>/ and its lock on the mount
  // exit 1 when anything on this host is a problem (not necessarily the plugin's): read the report either way
  const run = spawnSync(
    process.execPath,
    [CLI_MAIN, "doctor", "--json", "--admin-socket", join(adminDir, "admin.sock"), "--state-dir", stateDir],
    { encoding: "utf8", timeout: 60_000 },
  );
  const doctor = JSON.parse(run.stdout) as Array<{ name: string; status: string; detail: string }>;
  for (const name of ["daemon", "socket: plugin", "socket: admin", "state dir lock", "leftovers"]) {
    const check = doctor.find((candidate) => candidate.name === name);
    assert.is(check?.status, "ok", `${name}: ${check?.detail}`);
  }
  const bridge = `tsbr-${network.id.slice(0, 10)}`;
  assert.ok(hostLinks("tsbr-").includes(bridge), `${bridge} not on the host`);
  pluginGroup = linkGroup(bridge);
  const firewall = firewallNaming(bridge);
  assert.ok(firewall.tables.length > 0, "no nft table of the plugin names its bridge");

  await docker(["rm", "-f", a.name, b.name]);
  await docker(["network", "rm", network.name]);
  assert.not.ok(hostLinks("tsbr-").includes(bridge), `${bridge} left after network rm`);
  assert.equal(firewallNaming(bridge), { tables: [], jumps: [] }, "firewall rules left after network rm");
  assert.equal(firewallNaming(subnet.replace("/24", "")).tables, [], "NAT rules for the subnet left");
});

test("a port published on 127.0.0.1 answers from the host: the plugin can write its per-bridge sysctls", async () => {
  const network = await createNetwork({ driver: TAGGED, ipamDriver: TAGGED, subnets: [await freeSubnet()] });
  const port = 20_000 + Math.floor(Math.random() * 10_000);
  const web = await runContainer({
    network: network.name,
    publish: [`127.0.0.1:${port}:80`],
    command: ["httpd", "-f", "-p", "80", "-h", "/etc"],
  });
  const answered = await eventually(async () => {
    try {
      return (await hostFetch(`http://127.0.0.1:${port}/passwd`, 2_000)).status === 200;
    } catch {
      return false;
    }
  }, 15_000);
  assert.ok(answered, `127.0.0.1:${port} did not answer`);
  await docker(["rm", "-f", web.name]);
  await docker(["network", "rm", network.name]);
});

/** Host pids of the plugin's daemon: node processes whose environment carries this run's plugin name. */
function pluginPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, "utf8");
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (
        environ.includes(`TSNET_PLUGIN_NAME=${TAGGED}\0`) &&
        /\/app\/(plugin-entry\.mjs|dist\/main\.js)/.test(cmdline)
      )
        pids.push(Number(entry));
    } catch {
      // the process went away, or is not ours to read
    }
  }
  return pids;
}

test("kill -9 of the plugin: dockerd restarts it, running containers keep talking, the state is back, new ones join", async () => {
  const { adminDir } = installed.get();
  const network = await createNetwork({ driver: TAGGED, ipamDriver: TAGGED, subnets: [await freeSubnet()] });
  const a = await runContainer({ network: network.name });
  const b = await runContainer({ network: network.name });
  const [pid, ...others] = pluginPids();
  assert.ok(pid !== undefined && others.length === 0, `plugin pids: ${[pid, ...others].join(", ")}`);
  process.kill(pid, "SIGKILL");
  assert.ok(
    await eventually(() => {
      const now = pluginPids();
      return now.length === 1 && now[0] !== pid;
    }, 30_000),
    "dockerd did not restart the plugin",
  );
  assert.ok(await canPing(a.name, b.name), "a lost b while the plugin restarted");
  const c = await runContainer({ network: network.name });
  assert.ok(await canPing(c.name, a.name), "a container started after the restart cannot reach a");
  const listing = JSON.parse(
    execFileSync(process.execPath, [CLI_MAIN, "ls", "--json", "--admin-socket", join(adminDir, "admin.sock")], {
      encoding: "utf8",
    }),
  ) as { networks: Array<{ id: string; endpoints: unknown[] }> };
  assert.equal(
    listing.networks.map((n) => [n.id, n.endpoints.length]),
    [[network.id, 3]],
  );
  await docker(["rm", "-f", a.name, b.name, c.name]);
  await docker(["network", "rm", network.name]);
  assert.not.ok(hostLinks("tsbr-").includes(`tsbr-${network.id.slice(0, 10)}`), "bridge left after network rm");
});

test("disable + remove: the plugin, its socket and its sockets' links are gone", async () => {
  const { pluginId } = installed.get();
  await docker(["plugin", "disable", PLUGIN], { timeoutMs: 60_000 });
  await docker(["plugin", "rm", PLUGIN], { timeoutMs: 60_000 });
  const listed = await docker(["plugin", "ls", "--format", "{{.Name}}"]);
  assert.not.ok(listed.split("\n").includes(TAGGED), listed);
  assert.not.ok(existsSync(`/run/docker/plugins/${pluginId}/tsnet.sock`), "socket left behind");
  // every link the plugin made carries its link group: its veth pool's ready pairs (tsvq-) go when it stops
  if (pluginGroup !== undefined && pluginGroup !== "default") {
    assert.equal(linksInGroup(pluginGroup), [], `links of group ${pluginGroup} left behind`);
  }
});

test.run();

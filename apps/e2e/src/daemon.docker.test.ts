// The real daemon (`tsnet serve`, built) under a real Docker Engine: Docker activates it by its socket name and
// uses whatever its Plugin.Activate lists; it stops cleanly on SIGTERM, survives kill -9 with a restart on the same
// socket and state dir, and refuses a socket another live daemon serves.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  canPing,
  cleanup,
  containerAddress,
  createNetwork,
  docker,
  ensureDocker,
  eventually,
  fixture,
  freeSubnet,
  hostLinks,
  type RunningDaemon,
  runCli,
  runContainer,
  startDaemon,
  tempDir,
  tryDocker,
  uniqueName,
} from "./harness.js";

/** Docker's words when a v1 plugin's Activate does not list the interface it was asked for. */
const NOT_IMPLEMENTED = "Plugin does not implement the requested driver";

const daemonSuite = suite("the tsnet daemon under Docker");
const running = fixture<RunningDaemon>(async () => {
  await ensureDocker();
  return startDaemon();
});

daemonSuite.before(running.setup);

daemonSuite.after(async () => {
  await cleanup();
});

/** How many requests for `call` the daemon has logged (its one JSON line per request, on stderr). */
function loggedCalls(daemon: RunningDaemon, call: string): number {
  let count = 0;
  for (const line of daemon.output().split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      if ((JSON.parse(line) as { call?: unknown }).call === call) count += 1;
    } catch {
      // not a log line
    }
  }
  return count;
}

daemonSuite("Plugin.Activate lists only NetworkDriver and IpamDriver", () => {
  const daemon = running.get();
  for (const entry of daemon.implements) assert.ok(["NetworkDriver", "IpamDriver"].includes(entry), entry);
  assert.is(new Set(daemon.implements).size, daemon.implements.length, "no duplicates");
});

daemonSuite("Docker activates the daemon by its socket name on first use", async () => {
  const daemon = running.get();
  // The log line is written just after the reply: give it a moment to reach the pipe.
  assert.ok(
    await eventually(() => loggedCalls(daemon, "Plugin.Activate") >= 1, 2_000),
    "the daemon logs one line per request (the harness's own Activate probe)",
  );
  const before = loggedCalls(daemon, "Plugin.Activate");
  // Any -d/--ipam-driver reference makes dockerd look the plugin up and activate it; the network may or may not
  // be created, depending on what Activate lists (the next tests check that).
  const network = uniqueName("net");
  const created = await tryDocker(["network", "create", "-d", daemon.name, "--subnet", await freeSubnet(), network]);
  // Remove it while the daemon answers: a later test stops the daemon, and Docker cannot delete a network whose
  // plugin is gone.
  if (created.code === 0) await docker(["network", "rm", network]);
  assert.is(loggedCalls(daemon, "Plugin.Activate"), before + 1, "dockerd sent exactly one Plugin.Activate");
});

daemonSuite("Docker uses the daemon as network driver exactly when Activate lists NetworkDriver", async () => {
  const daemon = running.get();
  const network = uniqueName("net");
  const ipam = daemon.implements.includes("IpamDriver") ? daemon.name : "default";
  const created = await tryDocker([
    "network",
    "create",
    "-d",
    daemon.name,
    "--ipam-driver",
    ipam,
    "--subnet",
    await freeSubnet(),
    network,
  ]);
  if (!daemon.implements.includes("NetworkDriver")) {
    assert.is.not(created.code, 0, "network create fails");
    assert.match(created.stderr, NOT_IMPLEMENTED);
    return;
  }
  assert.is(created.code, 0, `network create: ${created.stderr}`);
  const shown = await docker(["network", "inspect", "--format", "{{.Driver}} {{.IPAM.Driver}}", network]);
  assert.is(shown, `${daemon.name} ${ipam}`);
  await docker(["network", "rm", network]);
  assert.is((await tryDocker(["network", "inspect", network])).code, 1, "the network is gone");
});

daemonSuite("Docker uses the daemon as IPAM driver exactly when Activate lists IpamDriver", async () => {
  const daemon = running.get();
  const network = uniqueName("net");
  const subnet = await freeSubnet();
  const created = await tryDocker([
    "network",
    "create",
    "-d",
    "bridge",
    "--ipam-driver",
    daemon.name,
    "--subnet",
    subnet,
    network,
  ]);
  if (!daemon.implements.includes("IpamDriver")) {
    assert.is.not(created.code, 0, "network create fails");
    assert.match(created.stderr, NOT_IMPLEMENTED);
    return;
  }
  assert.is(created.code, 0, `network create: ${created.stderr}`);
  const shown = await docker([
    "network",
    "inspect",
    "--format",
    "{{.IPAM.Driver}} {{range .IPAM.Config}}{{.Subnet}}{{end}}",
    network,
  ]);
  assert.is(shown, `${daemon.name} ${subnet}`);
  await docker(["network", "rm", network]);
});

daemonSuite(
  "a second daemon on a socket the first one serves refuses to start and leaves the first one's networks alone",
  async () => {
    const daemon = running.get();
    // A network with two containers on the first daemon, so there is kernel state a careless second daemon could
    // reconcile away (its own store names none of it) before it finds the socket taken.
    const network = await createNetwork({
      driver: daemon.name,
      ipamDriver: daemon.name,
      subnets: [await freeSubnet()],
    });
    const a = await runContainer({ network: network.name });
    const b = await runContainer({ network: network.name });
    const target = await containerAddress(b.name, network.name);
    assert.ok(await canPing(a.name, target), "the containers reach each other before");
    const bridgeName = `tsbr-${network.id.slice(0, 10)}`;
    assert.equal(hostLinks(bridgeName), [bridgeName], "the network's bridge exists");

    try {
      const scratch = tempDir("second");
      const second = await runCli([
        "serve",
        "--socket",
        daemon.socketPath,
        "--state-dir",
        join(scratch, "state"),
        ...(daemon.adminSocketPath ? ["--admin-socket", join(scratch, "admin.sock")] : []),
      ]);
      assert.is.not(second.code, 0, `exit code ${second.code}; output: ${second.output}`);
      assert.match(second.output, /served by another process|in use|already/i);
      assert.ok(existsSync(daemon.socketPath), "the first daemon's socket is still there");
      assert.equal(hostLinks(bridgeName), [bridgeName], "the first daemon's bridge is still there");
      assert.ok(await canPing(a.name, target), "the containers still reach each other");
    } finally {
      // Now, while the daemon answers: later tests stop it, and Docker cannot remove what a dead plugin owns.
      await docker(["rm", "-f", a.name, b.name]);
      await docker(["network", "rm", network.name]);
    }
  },
);

daemonSuite("after kill -9 the daemon restarts on the same socket and state dir", async () => {
  const daemon = running.get();
  await daemon.kill9();
  assert.ok(existsSync(daemon.socketPath), "kill -9 leaves the socket file behind");
  const restarted = await startDaemon({ socketName: daemon.name, stateDir: daemon.stateDir });
  assert.equal(restarted.implements, daemon.implements);
  running.set(restarted);
});

daemonSuite("SIGTERM stops the daemon within 5 s with exit code 0 and removes its socket", async () => {
  const daemon = running.get();
  const started = Date.now();
  const result = await daemon.stop(10_000);
  assert.is(result, 0, `exit ${String(result)}; output:\n${daemon.output().slice(-2000)}`);
  assert.ok(Date.now() - started < 5_000, `stopped in ${Date.now() - started} ms`);
  assert.not.ok(existsSync(daemon.socketPath), "the socket file is removed");
});

daemonSuite.run();

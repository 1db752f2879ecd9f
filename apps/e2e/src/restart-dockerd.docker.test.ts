// dockerd restarts (graceful stop, then start; protocol.md §5.1) with `--restart always` containers on a tsnet
// network: they come back with their addresses and reach each other; the IPAM holds exactly the gateway and their
// addresses (nothing allocated twice, nothing leaked) and the old endpoints' veths are gone.
// The dockerd restarted here is a private one (own data root, exec root, API socket and default bridge, no iptables), so the
// machine's shared dockerd and every other suite running on it are left alone. DOCKER_HOST points this process's
// docker CLI and the tsnet daemon (its Docker reconcile) at it.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  canPing,
  cleanup,
  containerAddress,
  createNetwork,
  docker,
  endpointVeth,
  ensureBusyboxImage,
  eventually,
  fixture,
  freeSubnet,
  hostLinks,
  type RunningDaemon,
  runContainer,
  startDaemon,
} from "./harness.js";
import {
  allocatedAddresses,
  endpointIdOf,
  lastDockerReconcile,
  type PrivateDockerd,
  startPrivateDockerd,
  waitForOutput,
} from "./restart-helpers.js";

const test = suite("restart: dockerd restarts with --restart always containers");
let dockerd: PrivateDockerd | undefined;
let hostLinksAtStart: string[] = [];
const running = fixture<RunningDaemon>(async () => {
  hostLinksAtStart = hostLinks("docker0");
  dockerd = await startPrivateDockerd();
  process.env.DOCKER_HOST = dockerd.host;
  await ensureBusyboxImage();
  return startDaemon({ env: { DOCKER_HOST: dockerd.host, TSNET_RECONCILE_GRACE_MS: "1000" } });
});
test.before(running.setup);
test.after(async () => {
  await cleanup();
  await dockerd?.remove();
  delete process.env.DOCKER_HOST;
});

const isRunning = async (name: string) =>
  (await docker(["inspect", "--format", "{{.State.Running}}", name]).catch(() => "false")) === "true";

test("containers come back with their addresses and reach each other; nothing allocated twice or leaked", async () => {
  const daemon = running.get();
  const engine = dockerd as PrivateDockerd;
  const subnet = await freeSubnet();
  const network = await createNetwork({ driver: daemon.name, ipamDriver: daemon.name, subnets: [subnet] });
  const a = await runContainer({ network: network.name, flags: ["--restart", "always"] });
  const b = await runContainer({ network: network.name, flags: ["--restart", "always"] });
  const before = [await containerAddress(a.name, network.name), await containerAddress(b.name, network.name)];
  const oldEndpoints = [await endpointIdOf(a.name, network.name), await endpointIdOf(b.name, network.name)];
  assert.ok(await canPing(a.name, b.name));
  await waitForOutput(daemon.output, /"reconciled with docker"/, 30_000);

  await engine.stop();
  await engine.start();
  assert.ok(
    await eventually(async () => (await isRunning(a.name)) && (await isRunning(b.name)), 60_000),
    "both restarted",
  );

  const after = [await containerAddress(a.name, network.name), await containerAddress(b.name, network.name)];
  assert.equal([...after].sort(), [...before].sort(), "the same addresses");
  assert.is(new Set(after).size, 2, "no address twice");
  assert.ok(await canPing(a.name, b.name), "a reaches b by name");
  assert.ok(await canPing(b.name, after[0] as string), "b reaches a by address");
  assert.equal(
    await allocatedAddresses(daemon.socketPath, subnet),
    [subnet.replace(/0\/24$/, "1"), ...after].sort(),
    "the IPAM holds the gateway and the two containers' addresses, nothing else",
  );
  const newEndpoints = [await endpointIdOf(a.name, network.name), await endpointIdOf(b.name, network.name)];
  assert.ok(
    newEndpoints.every((id) => !oldEndpoints.includes(id)),
    "new EndpointIDs after the restart",
  );
  assert.ok(
    await eventually(() => oldEndpoints.every((id) => endpointVeth(id) === undefined)),
    "the old endpoints' veths are gone",
  );
});

/** How many `reconciled with docker` lines the daemon has logged. */
const reconciles = (daemon: RunningDaemon) =>
  daemon
    .output()
    .split("\n")
    .filter((line) => line.includes('"reconciled with docker"')).length;

test("after a dockerd crash (kill -9, no teardown calls) the endpoints Docker dropped are released when it activates the plugin again", async () => {
  const daemon = running.get();
  const engine = dockerd as PrivateDockerd;
  const subnet = await freeSubnet();
  const network = await createNetwork({ driver: daemon.name, ipamDriver: daemon.name, subnets: [subnet] });
  const a = await runContainer({ network: network.name, flags: ["--restart", "always"] });
  const b = await runContainer({ network: network.name, flags: ["--restart", "always"] });
  const oldEndpoints = [await endpointIdOf(a.name, network.name), await endpointIdOf(b.name, network.name)];
  const seen = reconciles(daemon);

  await engine.kill9();
  await engine.start();
  assert.ok(
    await eventually(async () => (await isRunning(a.name)) && (await isRunning(b.name)), 60_000),
    "both restarted",
  );
  // The activation of the restarted dockerd triggers a reconciliation (grace 1 s here).
  assert.ok(await eventually(() => reconciles(daemon) > seen, 30_000), "reconciled again after the activation");
  await eventually(async () => {
    const held = await allocatedAddresses(daemon.socketPath, subnet);
    return held.length === 3;
  }, 20_000);

  process.stderr.write(`[dockerd crash] last reconcile: ${JSON.stringify(lastDockerReconcile(daemon.output()))}\n`);
  const after = [await containerAddress(a.name, network.name), await containerAddress(b.name, network.name)];
  assert.is(new Set(after).size, 2, "no address twice");
  assert.ok(await canPing(a.name, b.name), "a reaches b by name");
  assert.equal(
    await allocatedAddresses(daemon.socketPath, subnet),
    [subnet.replace(/0\/24$/, "1"), ...after].sort((x, y) => Number(x.split(".")[3]) - Number(y.split(".")[3])),
    "the IPAM holds the gateway and the two containers' addresses, nothing leaked",
  );
  assert.ok(
    await eventually(() => oldEndpoints.every((id) => endpointVeth(id) === undefined)),
    "the old endpoints' veths are gone",
  );
});

test("the private dockerd leaves the shared dockerd's docker0 in place", async () => {
  running.get();
  if (!hostLinksAtStart.includes("docker0")) return;
  assert.ok(hostLinks("docker0").includes("docker0"), "docker0 is still on the host");
});

test.run();

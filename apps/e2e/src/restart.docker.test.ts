// The plugin restarts while Docker keeps running (protocol.md §5.4): after kill -9 running containers keep their
// connectivity throughout and everything works afterwards; what Docker removed while the plugin was down (a
// container, a network) is found at the next start and released: bridge, veth, pool and addresses.
import { execFileSync } from "node:child_process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  canPing,
  cleanup,
  containerAddress,
  createNetwork,
  docker,
  endpointVeth,
  ensureDocker,
  eventually,
  execIn,
  fixture,
  freeSubnet,
  hostLinks,
  type RunningDaemon,
  runContainer,
  startDaemon,
  tryDocker,
} from "./harness.js";
import {
  allocatedAddresses,
  bridgeOf,
  endpointIdOf,
  holdsPool,
  lastDockerReconcile,
  waitForOutput,
} from "./restart-helpers.js";

const GRACE_ENV = { TSNET_RECONCILE_GRACE_MS: "1000" };

const test = suite("restart: plugin kill -9");
const running = fixture<RunningDaemon>(async () => {
  await ensureDocker();
  return startDaemon({ env: GRACE_ENV });
});
test.before(running.setup);
test.after(async () => {
  await cleanup();
});

async function restart(daemon: RunningDaemon): Promise<RunningDaemon> {
  await daemon.kill9();
  const again = await startDaemon({ socketName: daemon.name, stateDir: daemon.stateDir, env: GRACE_ENV });
  running.set(again);
  return again;
}

test("running containers keep their connectivity through kill -9 and restart; new ones, new networks and removals work after", async () => {
  const daemon = running.get();
  const subnet = await freeSubnet();
  const network = await createNetwork({ driver: daemon.name, ipamDriver: daemon.name, subnets: [subnet] });
  const a = await runContainer({ network: network.name });
  const b = await runContainer({ network: network.name });
  const addressB = await containerAddress(b.name, network.name);
  assert.ok(await canPing(a.name, addressB), "ping before the crash");

  // 30 pings 100 ms apart (3 s) while the daemon is killed and started again on the same state.
  const pinging = execIn(a.name, ["ping", "-c", "30", "-i", "0.1", "-W", "1", addressB], 60_000);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const again = await restart(daemon);
  const result = await pinging;
  assert.match(result.stdout, /30 packets transmitted, 30 packets received/, result.stdout);

  await waitForOutput(again.output, /"reconciled with docker"/, 30_000);
  const summary = lastDockerReconcile(again.output());
  assert.equal((summary?.released as Record<string, number>) ?? {}, {
    networks: 0,
    endpoints: 0,
    pools: 0,
    addresses: 0,
  });
  assert.equal(
    await allocatedAddresses(again.socketPath, subnet),
    [subnet.replace(/0\/24$/, "1"), await containerAddress(a.name, network.name), addressB].sort(),
    "gateway and the two containers, nothing else",
  );

  const c = await runContainer({ network: network.name });
  assert.ok(await canPing(c.name, addressB), "a new container reaches an old one");
  assert.ok(await canPing(c.name, a.name), "by name too");
  const otherSubnet = await freeSubnet();
  const other = await createNetwork({ driver: again.name, ipamDriver: again.name, subnets: [otherSubnet] });
  const d = await runContainer({ network: other.name });
  assert.ok(await canPing(d.name, otherSubnet.replace(/0\/24$/, "1")), "a new network's gateway answers");
  const endpointC = await endpointIdOf(c.name, network.name);
  await docker(["rm", "-f", c.name, d.name]);
  await docker(["network", "rm", other.name]);
  assert.ok(!hostLinks("tsbr-").includes(bridgeOf(other.id)), "the new network's bridge is gone");
  assert.is(endpointVeth(endpointC), undefined, "the removed container's veth is gone");
  assert.not.ok(await holdsPool(again.socketPath, otherSubnet), "the new network's pool is released");
});

test("a container and a network Docker removed while the plugin was down are released at the next start", async () => {
  const daemon = running.get();
  const subnet = await freeSubnet();
  const network = await createNetwork({ driver: daemon.name, ipamDriver: daemon.name, subnets: [subnet] });
  const stays = await runContainer({ network: network.name });
  const goes = await runContainer({ network: network.name });
  const goneSubnet = await freeSubnet();
  const goneNetwork = await createNetwork({ driver: daemon.name, ipamDriver: daemon.name, subnets: [goneSubnet] });
  const goneInNetwork = await runContainer({ network: goneNetwork.name });
  const goesEndpoint = await endpointIdOf(goes.name, network.name);
  const goesAddress = await containerAddress(goes.name, network.name);
  const staysAddress = await containerAddress(stays.name, network.name);
  // The container on the network that goes is removed first, while the plugin still answers.
  await docker(["rm", "-f", goneInNetwork.name]);

  await daemon.kill9();
  let again: RunningDaemon | undefined;
  try {
    // Docker retries each plugin call for ~15 s, then logs the failure and forgets the object (protocol.md §1.4, §8.11).
    const [rmContainer, rmNetwork] = await Promise.all([
      tryDocker(["rm", "-f", goes.name], { timeoutMs: 180_000 }),
      tryDocker(["network", "rm", goneNetwork.name], { timeoutMs: 180_000 }),
    ]);
    assert.is(rmContainer.code, 0, rmContainer.stderr);
    const goneNow = (await tryDocker(["network", "inspect", goneNetwork.name])).code !== 0;
    assert.ok(goneNow, `docker forgot the network (rm: ${rmNetwork.code} ${rmNetwork.stderr.trim()})`);
    assert.ok(hostLinks("tsbr-").includes(bridgeOf(goneNetwork.id)), "the bridge outlived the plugin's downtime");
  } finally {
    // Always a live plugin again, or cleanup's docker calls wait on a dead one.
    again = await startDaemon({ socketName: daemon.name, stateDir: daemon.stateDir, env: GRACE_ENV });
    running.set(again);
  }
  await waitForOutput(again.output, /"reconciled with docker"/, 60_000);
  const summary = lastDockerReconcile(again.output());
  assert.equal(summary?.networks, [goneNetwork.id.slice(0, 12)]);
  assert.equal(summary?.endpoints, [goesEndpoint.slice(0, 12)]);
  assert.equal(summary?.pools, [`LocalDefault/${goneSubnet}`]);
  assert.equal(summary?.addresses, [`LocalDefault/${subnet}|${goesAddress}`]);
  const released = await (async () => {
    for (let i = 0; i < 50; i++) {
      const links = hostLinks("ts");
      if (endpointVeth(goesEndpoint) === undefined && !links.includes(bridgeOf(goneNetwork.id))) return true;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return false;
  })();
  assert.ok(released, "veth and bridge removed");
  const rules = () =>
    execFileSync("nft", ["list", "ruleset"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }) +
    execFileSync("iptables-save", { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  assert.ok(await eventually(() => !rules().includes(bridgeOf(goneNetwork.id))), "no rule names the removed bridge");
  assert.not.ok(await holdsPool(again.socketPath, goneSubnet), "the removed network's pool is free");
  assert.equal(await allocatedAddresses(again.socketPath, subnet), [subnet.replace(/0\/24$/, "1"), staysAddress]);
  const newcomer = await runContainer({ network: network.name });
  assert.ok(await canPing(newcomer.name, stays.name));
});

test.run();

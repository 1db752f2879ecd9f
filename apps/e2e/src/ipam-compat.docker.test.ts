// Issue 4 §5, the real Docker test, beyond ipam.docker.test.ts: default pools skip host routes, --ip-range puts the
// gateway on the range's first address, aux addresses inside the range, lowest-first reuse, a taken --ip refused
// with a clear error, IPv6, the container's address held by tsnet's IPAM (asked over the socket), and
// `docker network rm` giving the pool back. Where Docker's default IPAM can do the same, the case runs with both
// (one after the other: Docker's bridge refuses two networks on one subnet) and compares what Docker shows.
import { execFileSync } from "node:child_process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  cleanup,
  containerAddress,
  createNetwork,
  docker,
  ensureBusyboxImage,
  ensureDocker,
  fixture,
  freeSubnet,
  type NetworkSpec,
  RUN_PREFIX,
  type RunningDaemon,
  runContainer,
  startDaemon,
  tryDocker,
} from "./harness.js";
import {
  at,
  closeIpamConnections,
  compareWithDefault,
  dockerDefaultPools,
  hostRoutes4,
  ipamCall,
  networkIpam,
  type Outcome,
  overlaps4,
  poolRequest,
  type Step,
} from "./ipam-helpers.js";

const compat = suite("tsnet IPAM in Docker: ranges, reuse, IPv6, host routes, pool release");
const running = fixture<RunningDaemon>(async () => {
  await ensureDocker();
  await ensureBusyboxImage();
  const daemon = await startDaemon();
  if (!daemon.implements.includes("IpamDriver")) throw new Error(`Activate lists ${daemon.implements.join(", ")}`);
  return daemon;
});
compat.before(running.setup);
compat.after(async () => {
  closeIpamConnections();
  await cleanup();
});

/** Runs a case under Docker's bridge with the default IPAM, then with tsnet's, and asserts Docker shows the same. */
function sameAsDefault(spec: NetworkSpec, steps: readonly Step[]): Promise<Outcome> {
  return compareWithDefault(running.get().name, spec, steps);
}

compat("--ip-range: the gateway is the range's first address, containers follow, as Docker's IPAM", async () => {
  const subnet = await freeSubnet();
  const range = at(subnet, 64).replace(/$/, "/26");
  const outcome = await sameAsDefault({ subnets: [subnet], ipRanges: [range] }, [{}, {}, {}]);
  assert.is(outcome.config, `${subnet} range=${range} gw= aux={}`);
  assert.is(outcome.gateway, at(subnet, 64));
  assert.equal(outcome.addresses, [at(subnet, 65), at(subnet, 66), at(subnet, 67)]);
});

compat("--ip-range with --gateway outside it and --aux-address inside it, and --ip outside the range", async () => {
  const subnet = await freeSubnet();
  const range = at(subnet, 128).replace(/$/, "/25");
  const outcome = await sameAsDefault(
    {
      subnets: [subnet],
      ipRanges: [range],
      gateways: [at(subnet, 1)],
      auxAddresses: { router: at(subnet, 128), printer: at(subnet, 129) },
    },
    [{}, { ip: at(subnet, 10) }, {}],
  );
  assert.equal(outcome.addresses, [at(subnet, 130), at(subnet, 10), at(subnet, 131)]);
});

compat("released addresses are handed out again lowest first, as Docker's IPAM", async () => {
  const subnet = await freeSubnet();
  const outcome = await sameAsDefault({ subnets: [subnet] }, [{}, {}, {}, {}, { rm: 2 }, { rm: 1 }, {}, {}, {}]);
  assert.equal(
    outcome.addresses,
    [2, 3, 4, 5, 3, 4, 6].map((offset) => at(subnet, offset)),
  );
});

compat("--ip: a taken address is refused with an error that names it; Docker's IPAM refuses it too", async () => {
  const { name } = running.get();
  const subnet = await freeSubnet();
  const outcome = await sameAsDefault({ subnets: [subnet] }, [{ ip: at(subnet, 40) }, { ip: at(subnet, 40) }]);
  assert.is(outcome.addresses[0], at(subnet, 40));
  const refusal = outcome.addresses[1] ?? "";
  assert.match(refusal, /^error: /);
  assert.ok(refusal.includes(at(subnet, 40)), `the refusal names the address: ${refusal}`);
  assert.match(refusal, /allocated|in use|taken/i, "the refusal says why");
  process.stdout.write(`  [--ip taken] ${refusal.split("\n").pop()}\n`);
  assert.ok(refusal.includes("IpamDriver.RequestAddress") || refusal.includes(name), refusal);
});

compat("IPv6: --ipv6 --subnet fd..::/64 gives containers addresses from it, as Docker's IPAM", async () => {
  const subnet = await freeSubnet();
  const v6 = `fd${RUN_PREFIX.slice(-2)}:${subnet.split(".")[1]}:${subnet.split(".")[2]}::/64`;
  const base = v6.replace("::/64", "::");
  const outcome = await sameAsDefault({ subnets: [subnet, v6], ipv6: true }, [
    {},
    {},
    { ip6: `${base}abcd` },
    { rm: 0 },
    {},
  ]);
  assert.is(outcome.gateway, `${at(subnet, 1)} ${base}1`);
  assert.equal(outcome.addresses, [
    `${at(subnet, 2)} ${base}2`,
    `${at(subnet, 3)} ${base}3`,
    `${at(subnet, 4)} ${base}abcd`,
    `${at(subnet, 2)} ${base}2`,
  ]);
});

compat(
  "Docker's bridge + tsnet IPAM: the container's address is held by tsnet, and freed with the container",
  async () => {
    const { name, socketPath } = running.get();
    const subnet = await freeSubnet();
    const network = await createNetwork({ driver: "bridge", ipamDriver: name, subnets: [subnet] });
    const ipam = await networkIpam(network.name);
    assert.is(ipam.driver, name);
    const container = await runContainer({ network: network.name });
    const address = await containerAddress(container.name, network.name);
    assert.is(address, at(subnet, 2));
    const poolId = `LocalDefault/${subnet}`;
    // tsnet's IPAM holds it (and the gateway): asking for either is a conflict.
    for (const held of [address, at(subnet, 1)]) {
      const again = await ipamCall(socketPath, "RequestAddress", { PoolID: poolId, Address: held, Options: {} });
      assert.is(again.status, 409, `${held}: ${again.text}`);
    }
    // .3 is free in tsnet's IPAM: taking it over the socket makes the next container get .4 (and then give it back).
    const taken = await ipamCall(socketPath, "RequestAddress", { PoolID: poolId, Address: at(subnet, 3), Options: {} });
    assert.is(taken.status, 200, taken.text);
    const next = await runContainer({ network: network.name });
    assert.is(await containerAddress(next.name, network.name), at(subnet, 4), "Docker took the address tsnet chose");
    const given = await ipamCall(socketPath, "ReleaseAddress", { PoolID: poolId, Address: at(subnet, 3) });
    assert.is(given.status, 200, given.text);
    // Removing the container releases its address in tsnet's IPAM.
    await docker(["rm", "-f", container.name]);
    const free = await ipamCall(socketPath, "RequestAddress", { PoolID: poolId, Address: address, Options: {} });
    assert.is(free.status, 200, `${address} is free again: ${free.text}`);
    assert.is((await ipamCall(socketPath, "ReleaseAddress", { PoolID: poolId, Address: address })).status, 200);
    await docker(["rm", "-f", next.name]);
    await docker(["network", "rm", network.name]);
  },
);

compat("docker network rm releases the pool: the same subnet can be had again", async () => {
  const { name, socketPath } = running.get();
  const subnet = await freeSubnet();
  const range = at(subnet, 128).replace(/$/, "/25");
  for (let round = 0; round < 2; round++) {
    const network = await createNetwork({ driver: "bridge", ipamDriver: name, subnets: [subnet], ipRanges: [range] });
    const container = await runContainer({ network: network.name });
    assert.is(await containerAddress(container.name, network.name), at(subnet, 129));
    // While the network exists its pool is held: tsnet refuses it, naming both.
    const clash = await ipamCall(socketPath, "RequestPool", poolRequest({ Pool: subnet }));
    assert.is(clash.status, 409, clash.text);
    assert.ok(String(clash.body.Error).includes(subnet), clash.text);
    await docker(["rm", "-f", container.name]);
    await docker(["network", "rm", network.name]);
  }
  const again = await ipamCall(socketPath, "RequestPool", poolRequest({ Pool: subnet }));
  assert.is(again.status, 200, `the pool is free after docker network rm: ${again.text}`);
  assert.is((await ipamCall(socketPath, "ReleasePool", { PoolID: again.body.PoolID })).status, 200);
});

compat("default pools: distinct, the first of Docker's list that no host route (as docker0's) overlaps", async () => {
  const { name } = running.get();
  // A host route on the first default pool the host does not route yet, as docker0's 172.17.0.0/16 would be (this
  // machine may have no docker0): a bridge of ours. Docker's daemon checks host routes only (protocol.md 4.4), not
  // the subnets of other Docker networks, so neither does this test.
  const pools = dockerDefaultPools();
  const before = hostRoutes4();
  const blocked = pools.find((pool) => !before.some((used) => overlaps4(pool, used)));
  assert.ok(blocked, "a default pool is free on this host");
  const link = `${RUN_PREFIX}r`;
  const ip = (args: string[]) => execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
  ip(["link", "add", link, "type", "bridge"]);
  try {
    ip(["addr", "add", `${String(blocked).replace(/0\/(\d+)$/, "1/$1")}`, "dev", link]);
    ip(["link", "set", link, "up"]);
    assert.ok(hostRoutes4().includes(String(blocked)), `the host routes ${blocked} now`);
    const created: string[] = [];
    for (let n = 0; n < 2; n++) {
      const network = await createNetwork({ driver: "bridge", ipamDriver: name });
      const subnet = (await networkIpam(network.name)).config[0]?.Subnet ?? "";
      created.push(subnet);
      const used = [...before, ...hostRoutes4().filter((route) => route !== subnet)];
      assert.ok(pools.includes(subnet), `${subnet} is one of Docker's default pools`);
      assert.is.not(subnet, blocked, "the routed pool is skipped");
      for (const route of before) assert.not.ok(overlaps4(subnet, route), `${subnet} overlaps ${route}`);
      // Every pool before it in Docker's order was in use (routed, a Docker network, or ours).
      for (const earlier of pools.slice(0, pools.indexOf(subnet))) {
        assert.ok(
          used.some((route) => overlaps4(earlier, route)) || created.includes(earlier),
          `${earlier} was free, yet ${subnet} was chosen`,
        );
      }
      const container = await runContainer({ network: network.name });
      const address = await containerAddress(container.name, network.name);
      assert.is(address, subnet.replace(/0\/\d+$/, "2"), `the container got .2 of ${subnet}`);
    }
    assert.is.not(created[0], created[1], "two networks, two pools");
    process.stdout.write(`  [default pools] host route on ${blocked}; tsnet chose ${created.join(", ")}\n`);
  } finally {
    await cleanup();
    ip(["link", "del", link]);
    // cleanup() stopped the daemon; later tests (none now) would need a new one.
  }
  const left = await tryDocker(["network", "ls", "--filter", `name=${RUN_PREFIX}`, "-q"]);
  assert.is(left.stdout.trim(), "", "no network of this run is left");
});

compat.run();

// Bad input and teardown of the bridge driver under a real Docker Engine: a bad option value or a colliding port
// binding is a clear Docker error naming the option or port and leaves nothing half-made; `docker network rm`
// leaves no interface and no rule of ours.
import { execFileSync } from "node:child_process";
import { randomInt } from "node:crypto";
import { createServer } from "node:net";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  daemonFixture,
  dockerUserJump,
  endpointOf,
  fetchFromHost,
  firewallNamesOf,
  httpContainer,
  linksOf,
  nftRuleset,
  tsnetNetwork,
} from "./bridge-helpers.js";
import {
  cleanup,
  docker,
  endpointPorts,
  eventually,
  freeSubnet,
  hostLinks,
  nftTables,
  runContainer,
  tryDocker,
  uniqueName,
} from "./harness.js";

const test = suite("bridge driver: bad input and teardown under Docker");
const daemon = daemonFixture();
test.before(daemon.setup);
test.after(async () => {
  await cleanup();
});

/** Host links enslaved to a bridge. */
function hostAddresses(): string {
  return execFileSync("ip", ["-o", "addr", "show"], { encoding: "utf8" });
}

/** `docker network rm` after removing the containers a failed `docker run` left (created, never started). */
async function removeNetwork(network: string): Promise<void> {
  const ids = (await docker(["ps", "-aq", "--filter", `network=${network}`])).split("\n").filter(Boolean);
  if (ids.length > 0) await docker(["rm", "-f", ...ids]);
  await docker(["network", "rm", network]);
}

const badOptions: Array<[string, string, string]> = [
  ["com.docker.network.bridge.name", "tsbrmuchtoolong01", "17 characters"],
  ["com.docker.network.bridge.name", "ts/br", "a slash"],
  ["com.docker.network.bridge.name", "ts:br", "a colon"],
  ["com.docker.network.driver.mtu", "70000", "above 65535"],
  ["com.docker.network.driver.mtu", "10", "below 68"],
  ["com.docker.network.driver.mtu", "big", "not a number"],
  ["com.docker.network.bridge.enable_icc", "maybe", "not a boolean"],
  ["com.docker.network.bridge.enable_ip_masquerade", "yes", "not a Go boolean"],
];

for (const [option, value, why] of badOptions) {
  test(`-o ${option}=${value} (${why}) is refused naming the option, and leaves nothing`, async () => {
    const subnet = await freeSubnet();
    const gateway = subnet.replace(/0\/24$/, "1");
    const name = uniqueName("bad");
    const result = await tryDocker([
      "network",
      "create",
      "-d",
      daemon.get().name,
      "--ipam-driver",
      daemon.get().name,
      "--subnet",
      subnet,
      "-o",
      `${option}=${value}`,
      name,
    ]);
    assert.is.not(result.code, 0, `docker accepted it: ${result.stdout}`);
    assert.ok(result.stderr.includes(option), `the error names ${option}: ${result.stderr.trim()}`);
    assert.is((await tryDocker(["network", "inspect", name])).code, 1, "no network");
    assert.not.ok(hostAddresses().includes(` ${gateway}/`), `no link carries the gateway ${gateway}`);
    assert.not.ok(nftRuleset().includes(subnet), `no rule names ${subnet}`);
    if (option.endsWith("bridge.name")) assert.equal(hostLinks(value), [], `no link named ${value}`);
  });
}

test("a colliding -p is refused naming the port; the second container leaves no veth, the first keeps its port", async () => {
  const network = await tsnetNetwork(daemon.get());
  const bridge = `tsbr-${network.id.slice(0, 10)}`;
  const port = randomInt(40_000, 45_000);
  const first = await httpContainer({ network: network.name, publish: [`${port}:8080`], body: "first" });
  assert.ok(await eventually(async () => (await fetchFromHost(`http://127.0.0.1:${port}/`)) === "first", 5_000));
  const second = await tryDocker([
    "run",
    "-d",
    "--name",
    uniqueName("ctr"),
    "--network",
    network.name,
    "-p",
    `${port}:8080`,
    "tsnet-busybox:test",
    "sleep",
    "3600",
  ]);
  assert.is.not(second.code, 0, "the second container did not start");
  assert.ok(second.stderr.includes(String(port)), `the error names port ${port}: ${second.stderr.trim()}`);
  assert.ok(
    await eventually(() => endpointPorts(bridge).length === 1, 5_000),
    `one port left: ${endpointPorts(bridge)}`,
  );
  assert.is(await fetchFromHost(`http://127.0.0.1:${port}/`), "first", "the first container keeps the port");
  await docker(["rm", "-f", first.name]);
  await removeNetwork(network.name);
});

test("-p on a port a host process listens on is refused naming the port", async () => {
  const network = await tsnetNetwork(daemon.get());
  const server = createServer();
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(randomInt(45_000, 49_000), "0.0.0.0", () => resolve((server.address() as { port: number }).port));
  });
  try {
    const result = await tryDocker([
      "run",
      "-d",
      "--name",
      uniqueName("ctr"),
      "--network",
      network.name,
      "-p",
      `${port}:8080`,
      "tsnet-busybox:test",
      "sleep",
      "3600",
    ]);
    assert.is.not(result.code, 0, "the container did not start");
    assert.ok(result.stderr.includes(String(port)), `the error names port ${port}: ${result.stderr.trim()}`);
    assert.not.ok(nftRuleset().includes(`dport ${port} `), "no DNAT rule for it");
  } finally {
    server.close();
  }
  await removeNetwork(network.name);
});

test("docker network rm leaves no interface and no rule of ours; the last one takes tables and jump", async () => {
  const network = await tsnetNetwork(daemon.get(), { options: { "com.docker.network.bridge.enable_icc": "false" } });
  const named = await tsnetNetwork(daemon.get(), {
    options: { "com.docker.network.bridge.name": `tst${randomInt(0, 0xffff).toString(16).padStart(4, "0")}br` },
  });
  const bridge = `tsbr-${network.id.slice(0, 10)}`;
  const namedBridge = (await docker(["network", "inspect", "--format", "{{json .Options}}", named.name])).match(
    /tst[0-9a-f]{4}br/,
  )?.[0] as string;
  const port = randomInt(40_000, 45_000);
  const containers = [
    await httpContainer({ network: network.name, publish: [`${port}:8080`], body: "bye" }),
    await runContainer({ network: network.name }),
    await runContainer({ network: named.name }),
  ];
  const endpoints = [
    await endpointOf(containers[0]?.name as string, network.name),
    await endpointOf(containers[1]?.name as string, network.name),
    await endpointOf(containers[2]?.name as string, named.name),
  ];
  assert.ok(
    linksOf([network.id, ...endpoints]).length === 4,
    `the bridge and three host veths exist: ${linksOf([network.id, ...endpoints])}`,
  );
  assert.equal(hostLinks(namedBridge), [namedBridge], "the named bridge exists");
  assert.ok(nftRuleset().includes(bridge), "rules exist");
  // Per-plugin firewall names (when the CLI scopes them) make the table check exact whatever else runs.
  const scoped = nftTables().some((table) => table === `inet ${firewallNamesOf(daemon.get().name).table}`);
  await docker(["rm", "-f", ...containers.map((container) => container.name)]);
  await docker(["network", "rm", network.name, named.name]);
  assert.ok(
    await eventually(() => linksOf([network.id, ...endpoints]).length === 0 && hostLinks(namedBridge).length === 0),
    `no link left: ${[...linksOf([network.id, ...endpoints]), ...hostLinks(namedBridge)]}`,
  );
  assert.ok(
    await eventually(() => {
      const rules =
        nftRuleset() + execFileSync("iptables-save", { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
      return ![bridge, namedBridge, network.subnet, named.subnet, `dport ${port} `].some((text) =>
        rules.includes(text),
      );
    }),
    "no nft or iptables rule names the bridges, the subnets or the port",
  );
  const own = firewallNamesOf(daemon.get().name);
  const ownTables = () => nftTables().filter((table) => table.split(" ")[1]?.startsWith(own.table));
  if (scoped) {
    // This daemon's own tables, chain and jump (named after its plugin): they go with its last network.
    assert.ok(
      await eventually(() => ownTables().length === 0 && !dockerUserJump(own.comment)),
      `no table of ours (${ownTables().join(", ")}) and no DOCKER-USER jump (${dockerUserJump(own.comment)})`,
    );
  } else if (hostLinks("tsbr-").length === 0) {
    // Shared names: the tables and the jump can only go when no tsnet bridge is left at all.
    assert.ok(
      await eventually(() => !nftTables().some((table) => /tsnet/.test(table)) && !dockerUserJump()),
      `no tsnet table (${nftTables().join(", ")}) and no DOCKER-USER jump (${dockerUserJump()})`,
    );
  } else {
    process.stdout.write(`\n  (shared firewall names and other tsnet bridges exist: table check skipped)\n`);
  }
});

test.run();

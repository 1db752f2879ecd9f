// 100 containers on one tsnet network under a real Docker Engine: all start (8 at a time), all get distinct
// addresses in the subnet, a sample reaches each other, and removing them all and the network leaves nothing.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { daemonFixture, endpointOf, linksOf, mapLimit, tsnetNetwork } from "./bridge-helpers.js";
import { canPing, cleanup, containerAddress, docker, eventually, runContainer, tryDocker } from "./harness.js";

const COUNT = 100;
const CONCURRENCY = 8;

const test = suite("bridge driver: 100 containers on one network");
const daemon = daemonFixture();
test.before(daemon.setup);
test.after(async () => {
  await cleanup();
});

test(`${COUNT} containers start ${CONCURRENCY} at a time, get distinct addresses, and a sample pings`, async () => {
  const network = await tsnetNetwork(daemon.get());
  const started = Date.now();
  const containers = await mapLimit(
    Array.from({ length: COUNT }, (_, i) => i),
    CONCURRENCY,
    () => runContainer({ network: network.name }),
  );
  const seconds = (Date.now() - started) / 1000;
  process.stdout.write(`\n  (${COUNT} containers in ${seconds.toFixed(1)} s)\n`);
  const addresses = await mapLimit(containers, CONCURRENCY, (container) =>
    containerAddress(container.name, network.name),
  );
  const prefix = network.subnet.replace(/0\/24$/, "");
  assert.is(new Set(addresses).size, COUNT, "distinct addresses");
  for (const address of addresses) assert.ok(address.startsWith(prefix), `${address} is in ${network.subnet}`);
  assert.not.ok(addresses.includes(network.gateway), "no container has the gateway");
  const sample = [0, 17, 42, 63, 99];
  for (const from of sample) {
    const to = (from + 50) % COUNT;
    assert.ok(
      await canPing(containers[from]?.name as string, addresses[to] as string),
      `ctr ${from} → ${addresses[to]}`,
    );
  }
  const endpoints = await mapLimit(containers, CONCURRENCY, (container) => endpointOf(container.name, network.name));
  // Removed 8 at a time, as they were started: one `docker rm -f` of all 100 at once has, under heavy machine load,
  // left dockerd's endpoint count of the network above zero with every Leave/DeleteEndpoint answered 200 (the
  // daemon's request log), so `network rm` said "has active endpoints" (dockerd's count race, moby#42119).
  await mapLimit(containers, CONCURRENCY, (container) => docker(["rm", "-f", container.name]));
  // dockerd releases a removed container's endpoints a moment after `docker rm` returns.
  let refusal = "";
  const removed = await eventually(async () => {
    const result = await tryDocker(["network", "rm", network.name]);
    refusal = result.stderr.trim();
    return result.code === 0;
  }, 20_000);
  if (!removed) {
    const log = daemon.get().output().split("\n");
    const answered = (call: string) =>
      log.filter((line) => line.includes(`"call":"NetworkDriver.${call}"`) && line.includes('"status":200')).length;
    const notes = log.filter((line) => /"level":(40|50|60)/.test(line)).slice(-20);
    assert.unreachable(
      `network rm refused for 20 s: ${refusal}\nCreateEndpoint/DeleteEndpoint answered 200: ${answered("CreateEndpoint")}/${answered("DeleteEndpoint")}\ndaemon warnings:\n${notes.join("\n")}`,
    );
  }
  assert.ok(
    await eventually(() => linksOf([network.id, ...endpoints]).length === 0, 15_000),
    `no link left: ${linksOf([network.id, ...endpoints]).join(", ")}`,
  );
});

test.run();

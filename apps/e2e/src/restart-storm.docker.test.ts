// kill -9 at random moments during a storm of `docker run` / `docker rm` on one tsnet network (bounded: 3 workers,
// at most 36 operations or 40 s, 3 kills): afterwards no two running containers share an address, the plugin
// still serves; once every container is gone and the plugin has reconciled, the IPAM holds only the gateway and
// no veth is left on the bridge or anywhere else under an endpoint's name.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  canPing,
  cleanup,
  createNetwork,
  docker,
  endpointPorts,
  endpointVeth,
  ensureBusyboxImage,
  ensureDocker,
  fixture,
  freeSubnet,
  hostLinks,
  type RunningDaemon,
  startDaemon,
  tryDocker,
  uniqueName,
} from "./harness.js";
import { allocatedAddresses, bridgeOf, lastDockerReconcile, waitForOutput } from "./restart-helpers.js";

const GRACE_ENV = { TSNET_RECONCILE_GRACE_MS: "1000" };
const WORKERS = 3;
const MAX_OPERATIONS = 36;
const MAX_STORM_MS = 40_000;
const KILLS = 3;

const test = suite("restart: kill -9 during a docker run/rm storm");
const running = fixture<RunningDaemon>(async () => {
  await ensureDocker();
  await ensureBusyboxImage();
  return startDaemon({ env: GRACE_ENV });
});
test.before(running.setup);
test.after(async () => {
  await cleanup();
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Links enslaved to a bridge (`ip -o link show master BRIDGE`). */
test("no duplicate address, no leaked address, no leftover interface", async () => {
  let daemon = running.get();
  const subnet = await freeSubnet();
  const network = await createNetwork({ driver: daemon.name, ipamDriver: daemon.name, subnets: [subnet] });
  const image = await ensureBusyboxImage();
  const endpointIds = new Set<string>();
  const alive = new Set<string>();
  const failures: string[] = [];
  let operations = 0;
  const started = Date.now();
  const more = () => operations < MAX_OPERATIONS && Date.now() - started < MAX_STORM_MS;

  const worker = async () => {
    while (more()) {
      operations++;
      if (alive.size > 0 && Math.random() < 0.4) {
        const victim = [...alive][Math.floor(Math.random() * alive.size)] as string;
        alive.delete(victim);
        const result = await tryDocker(["rm", "-f", victim], { timeoutMs: 120_000 });
        if (result.code !== 0) failures.push(`rm ${victim}: ${result.stderr.trim()}`);
        continue;
      }
      const name = uniqueName("storm");
      const result = await tryDocker(["run", "-d", "--name", name, "--network", network.name, image, "sleep", "3600"], {
        timeoutMs: 120_000,
      });
      if (result.code !== 0) {
        failures.push(`run ${name}: ${result.stderr.trim()}`);
        continue;
      }
      alive.add(name);
      const id = (
        await tryDocker([
          "inspect",
          "--format",
          `{{(index .NetworkSettings.Networks ${JSON.stringify(network.name)}).EndpointID}}`,
          name,
        ])
      ).stdout.trim();
      if (id) endpointIds.add(id);
    }
  };
  const killer = async () => {
    for (let kill = 0; kill < KILLS && more(); kill++) {
      await sleep(1_500 + Math.random() * 5_000);
      await daemon.kill9();
      daemon = await startDaemon({ socketName: daemon.name, stateDir: daemon.stateDir, env: GRACE_ENV });
      running.set(daemon);
    }
  };
  await Promise.all([killer(), ...Array.from({ length: WORKERS }, worker)]);
  process.stderr.write(
    `[storm] ${operations} operations in ${Date.now() - started} ms, ${KILLS} kills, ${alive.size} running, ` +
      `${failures.length} docker failures${failures.length > 0 ? `:\n  ${failures.join("\n  ")}` : ""}\n`,
  );

  // Every container still running has an address of its own, and they reach each other.
  const running_ = (await docker(["ps", "-q", "--filter", `network=${network.name}`])).split("\n").filter(Boolean);
  const addresses = await Promise.all(
    running_.map((id) =>
      docker([
        "inspect",
        "--format",
        `{{(index .NetworkSettings.Networks ${JSON.stringify(network.name)}).IPAddress}}`,
        id,
      ]),
    ),
  );
  assert.is(new Set(addresses).size, addresses.length, `duplicate address among ${addresses.join(", ")}`);
  if (running_.length >= 2) assert.ok(await canPing(running_[0] as string, addresses[1] as string));

  // Everything goes; a last crash and restart reconciles with Docker.
  const all = (await docker(["ps", "-aq", "--filter", `network=${network.name}`])).split("\n").filter(Boolean);
  if (all.length > 0) await docker(["rm", "-f", ...all], { timeoutMs: 120_000 });
  await daemon.kill9();
  daemon = await startDaemon({ socketName: daemon.name, stateDir: daemon.stateDir, env: GRACE_ENV });
  running.set(daemon);
  await waitForOutput(daemon.output, /"reconciled with docker"/, 60_000);
  process.stderr.write(`[storm] last reconcile: ${JSON.stringify(lastDockerReconcile(daemon.output()))}\n`);

  assert.equal(
    await allocatedAddresses(daemon.socketPath, subnet),
    [subnet.replace(/0\/24$/, "1")],
    "only the gateway",
  );
  const clean = async () => {
    const members = endpointPorts(bridgeOf(network.id));
    return members.length === 0 && ![...endpointIds].some((id) => endpointVeth(id) !== undefined);
  };
  for (let i = 0; i < 50 && !(await clean()); i++) await sleep(100);
  assert.equal(endpointPorts(bridgeOf(network.id)), [], "no endpoint's veth left on the network's bridge");
  const leftovers = [...endpointIds].filter((id) => endpointVeth(id) !== undefined);
  assert.equal(leftovers, [], "no host veth of any endpoint the storm made");
  await docker(["network", "rm", network.name]);
  assert.not.ok(hostLinks("tsbr-").includes(bridgeOf(network.id)), "the bridge went with the network");
});

test.run();

/**
 * 40 containers started 4 at a time (`docker run -d`, busybox `sleep`) on a tsnet network (the real daemon as
 * network and IPAM driver) vs on a Docker built-in bridge network, in the same run, ordered A B B A so that drift
 * in machine load hits both sides alike. Wall time per batch and the ratio tsnet / bridge (target <= 1.0).
 * Containers are removed between batches (not timed); networks and the daemon at the end. Asserts nothing.
 *
 *   pnpm --filter @tsnet/e2e bench            (CONTAINERS=N, CONCURRENCY=N; defaults 40 and 4)
 */
import { mapLimit } from "../src/bridge-helpers.js";
import {
  cleanup,
  createNetwork,
  docker,
  ensureBusyboxImage,
  ensureDocker,
  freeSubnet,
  runContainer,
  startDaemon,
  type TestNetwork,
} from "../src/harness.js";

const containers = Number(process.env.CONTAINERS ?? 40);
const concurrency = Number(process.env.CONCURRENCY ?? 4);

async function batch(network: TestNetwork): Promise<number> {
  const started = performance.now();
  const made = await mapLimit(
    Array.from({ length: containers }, (_, i) => i),
    concurrency,
    () => runContainer({ network: network.name }),
  );
  const wall = performance.now() - started;
  // Removed `concurrency` at a time, as they were started: one `docker rm -f` of them all at once (80 here) can leave
  // dockerd counting an endpoint it has removed ("has active endpoints" for good, the race bridge-scale avoids too).
  await mapLimit(made, concurrency, (container) => docker(["rm", "-f", container.name], { timeoutMs: 60_000 }));
  return wall;
}

try {
  await ensureDocker();
  await ensureBusyboxImage();
  const daemon = await startDaemon();
  const tsnet = await createNetwork({ driver: daemon.name, ipamDriver: daemon.name, subnets: [await freeSubnet()] });
  const bridge = await createNetwork({ subnets: [await freeSubnet()] });
  // One container each first: the image, the plugin activation and the first bridge are not part of the figure.
  for (const network of [tsnet, bridge]) {
    const first = await runContainer({ network: network.name });
    await docker(["rm", "-f", first.name]);
  }
  const walls = { tsnet: [] as number[], bridge: [] as number[] };
  for (const side of ["bridge", "tsnet", "tsnet", "bridge"] as const) {
    walls[side].push(await batch(side === "tsnet" ? tsnet : bridge));
  }
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  console.log(`\n${containers} containers, ${concurrency} at a time (docker run -d), batches in order A B B A`);
  console.log(`${"".padEnd(26)} ${"batch 1".padStart(9)} ${"batch 2".padStart(9)} ${"mean".padStart(9)}`);
  for (const side of ["tsnet", "bridge"] as const) {
    const [one = 0, two = 0] = walls[side];
    const label = side === "tsnet" ? "tsnet (plugin + IPAM)" : "Docker bridge (built-in)";
    console.log(
      `${label.padEnd(26)} ${seconds(one).padStart(9)} ${seconds(two).padStart(9)} ${seconds(mean(walls[side])).padStart(9)}`,
    );
  }
  console.log(`ratio tsnet / bridge: ${(mean(walls.tsnet) / mean(walls.bridge)).toFixed(2)} (target <= 1.0)`);
} finally {
  await cleanup();
}

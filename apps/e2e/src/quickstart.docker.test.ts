// The root README's quick start, run for real: the built daemon as network and IPAM driver, two busybox containers
// that reach each other by address and by name, and nothing of the network left on the host after `docker network rm`.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  canPing,
  cleanup,
  containerAddress,
  createNetwork,
  docker,
  ensureBusyboxImage,
  ensureDocker,
  eventually,
  fixture,
  freeSubnet,
  hostLinks,
  type RunningDaemon,
  runContainer,
  startDaemon,
  type TestNetwork,
  tryDocker,
} from "./harness.js";

const quickstart = suite("README quick start on the real daemon");
const running = fixture<RunningDaemon>(async () => {
  await ensureDocker();
  await ensureBusyboxImage();
  const daemon = await startDaemon();
  const missing = ["NetworkDriver", "IpamDriver"].filter((entry) => !daemon.implements.includes(entry));
  if (missing.length > 0) {
    throw new Error(
      `the daemon's Plugin.Activate lacks ${missing.join(" and ")}: packages/cli/src/compose.ts composes no bridge driver/IPAM yet`,
    );
  }
  return daemon;
});

quickstart.before(running.setup);
quickstart.after(async () => {
  await cleanup();
});

let network: TestNetwork | undefined;
let subnet = "";

quickstart("docker network create -d NAME --ipam-driver NAME --subnet makes a network Docker shows", async () => {
  const { name } = running.get();
  subnet = await freeSubnet();
  network = await createNetwork({ driver: name, ipamDriver: name, subnets: [subnet] });
  const shown = await docker([
    "network",
    "inspect",
    "--format",
    "{{.Driver}} {{.IPAM.Driver}} {{range .IPAM.Config}}{{.Subnet}}{{end}}",
    network.name,
  ]);
  assert.is(shown, `${name} ${name} ${subnet}`);
});

quickstart(
  "two containers on the network get addresses from its subnet and ping each other by address and name",
  async () => {
    running.get();
    if (!network) throw new Error("the network test did not run");
    const first = await runContainer({ network: network.name });
    const second = await runContainer({ network: network.name });
    const prefix = subnet.replace(/0\/24$/, "");
    const address = await containerAddress(second.name, network.name);
    assert.ok(address.startsWith(prefix), `${address} is in ${subnet}`);
    assert.ok(await canPing(first.name, address), `ping ${address}`);
    assert.ok(await canPing(first.name, second.name), `ping ${second.name}`);
    await docker(["rm", "-f", first.name, second.name]);
  },
);

quickstart("docker network rm leaves no link of that network on the host", async () => {
  running.get();
  if (!network) throw new Error("the network test did not run");
  const id = network.id;
  const before = hostLinks("tsbr-");
  assert.ok(
    before.some((link) => id.startsWith(link.slice(5))),
    `the network's bridge exists while the network does: ${before.join(", ")}`,
  );
  await docker(["network", "rm", network.name]);
  assert.ok(
    await eventually(() => !hostLinks("tsbr-").some((link) => id.startsWith(link.slice(5)))),
    `no bridge of network ${id.slice(0, 12)} is left: ${hostLinks("ts").join(", ")}`,
  );
  assert.is((await tryDocker(["network", "inspect", network.name])).code, 1);
  network = undefined;
});

quickstart.run();

// The harness itself, against Docker's own bridge driver: when a tsnet e2e test fails, this tells whether the
// engine, the busybox image and the helpers work at all on this machine.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  canPing,
  cleanup,
  connect,
  containerAddress,
  createNetwork,
  disconnect,
  docker,
  ensureBusyboxImage,
  ensureDocker,
  eventually,
  execIn,
  fixture,
  freeSubnet,
  hostFetch,
  hostLinks,
  nftTables,
  RUN_PREFIX,
  runContainer,
  TEST_IMAGE,
  type TestNetwork,
  tryDocker,
} from "./harness.js";

const harness = suite("e2e harness on Docker's bridge driver");
const network = fixture<TestNetwork>(async () => {
  await ensureDocker();
  await ensureBusyboxImage();
  return createNetwork({ subnets: [await freeSubnet()] });
});

harness.before(network.setup);
harness.after(async () => {
  await cleanup();
});

harness("the busybox test image runs a shell command", async () => {
  network.get();
  const result = await tryDocker(["run", "--rm", "--network", "none", TEST_IMAGE, "sh", "-c", "echo $((6 * 7))"]);
  assert.is(result.code, 0, result.stderr);
  assert.is(result.stdout.trim(), "42");
});

harness("two containers on one network ping each other by address and by name", async () => {
  const { name } = network.get();
  const first = await runContainer({ network: name });
  const second = await runContainer({ network: name });
  const address = await containerAddress(second.name, name);
  assert.match(address, /^10\.2\d\d\.\d+\.\d+$/);
  assert.ok(await canPing(first.name, address), `ping ${address}`);
  assert.ok(await canPing(first.name, second.name), `ping ${second.name}`);
  assert.is((await execIn(first.name, ["hostname"])).stdout.trim(), first.id.slice(0, 12));
});

harness("a published port answers from the host, and network connect adds an interface", async () => {
  const { name } = network.get();
  const server = await runContainer({
    network: name,
    publish: ["127.0.0.1::8080"],
    command: ["sh", "-c", "mkdir -p /www && echo tsnet-e2e > /www/index.html && httpd -f -p 8080 -h /www"],
  });
  const port = (await docker(["port", server.name, "8080/tcp"])).split(":").pop();
  assert.ok(
    await eventually(async () => (await hostFetch(`http://127.0.0.1:${port}/`).catch(() => undefined))?.status === 200),
    "the port answers",
  );
  assert.is((await hostFetch(`http://127.0.0.1:${port}/`)).body.trim(), "tsnet-e2e");
  const second = await createNetwork({ subnets: [await freeSubnet()] });
  await connect(second.name, server.name);
  assert.match(await containerAddress(server.name, second.name), /^10\.2\d\d\./);
  assert.ok((await execIn(server.name, ["ip", "-o", "link", "show", "eth1"])).code === 0, "eth1 exists");
  await disconnect(second.name, server.name);
  assert.is.not((await execIn(server.name, ["ip", "-o", "link", "show", "eth1"])).code, 0, "eth1 is gone");
});

harness("host inspection helpers read links and nftables tables", () => {
  assert.equal(hostLinks("lo"), ["lo"]);
  for (const table of nftTables()) assert.match(table, /^(ip|ip6|inet|arp|bridge|netdev) \S+$/);
});

harness("cleanup removes every container and network with the run prefix", async () => {
  network.get();
  await runContainer({ network: network.get().name });
  const removed = await cleanup();
  assert.ok(removed.containers.length >= 1, `removed containers: ${removed.containers.join(", ")}`);
  assert.ok(removed.networks.includes(network.get().name), `removed networks: ${removed.networks.join(", ")}`);
  const left = await docker(["ps", "-a", "--filter", `name=${RUN_PREFIX}`, "--format", "{{.Names}}"]);
  assert.is(left, "");
  assert.is((await tryDocker(["network", "inspect", network.get().name])).code, 1);
});

harness.run();

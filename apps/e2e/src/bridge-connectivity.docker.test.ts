// The bridge driver under a real Docker Engine: what containers on tsnet networks can and cannot reach.
// Every address used is inside containers or networks this run made, or a dummy address of ours on the host.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  addDummyAddress,
  containerInterfaces,
  containerRoutes,
  daemonFixture,
  fetchFromHost,
  fetchIn,
  randomUla64,
  tsnetNetwork,
} from "./bridge-helpers.js";
import {
  canPing,
  cleanup,
  connect,
  containerAddress,
  containerAddress6,
  createNetwork,
  disconnect,
  docker,
  eventually,
  execIn,
  freeSubnet,
  runContainer,
} from "./harness.js";

const test = suite("bridge driver: connectivity under Docker");
const daemon = daemonFixture();
test.before(daemon.setup);
test.after(async () => {
  await cleanup();
});

test("two containers ping each other by address and by name", async () => {
  const network = await tsnetNetwork(daemon.get());
  const a = await runContainer({ network: network.name });
  const b = await runContainer({ network: network.name });
  const addressA = await containerAddress(a.name, network.name);
  const addressB = await containerAddress(b.name, network.name);
  assert.is.not(addressA, addressB);
  assert.ok(await canPing(a.name, addressB), `a → ${addressB}`);
  assert.ok(await canPing(b.name, addressA), `b → ${addressA}`);
  assert.ok(await canPing(a.name, b.name), `a → ${b.name}`);
  assert.ok(await canPing(b.name, a.name), `b → ${a.name}`);
  assert.ok(await canPing(a.name, network.gateway), "a → gateway");
  await docker(["rm", "-f", a.name, b.name]);
});

test("--ip, --ip-range and --aux-address are honoured", async () => {
  const subnet = await freeSubnet();
  const base = subnet.replace(/0\/24$/, "");
  const network = await tsnetNetwork(daemon.get(), {
    subnets: [subnet],
    ipRanges: [`${base}128/26`],
    auxAddresses: { printer: `${base}130`, router: `${base}129` },
  });
  const fixed = await runContainer({ network: network.name, ip: `${base}77` });
  assert.is(await containerAddress(fixed.name, network.name), `${base}77`);
  const free = await runContainer({ network: network.name });
  const address = await containerAddress(free.name, network.name);
  const last = Number(address.split(".")[3]);
  assert.ok(last >= 128 && last <= 191, `${address} is in the range ${base}128/26`);
  assert.ok(![129, 130].includes(last), `${address} is not an aux address`);
  assert.ok(await canPing(free.name, `${base}77`), "range container → fixed container");
  // The aux addresses stay reserved: asking for one is refused by the IPAM.
  const taken = await runContainer({ network: network.name, ip: `${base}130` }).then(
    () => "started",
    (error: unknown) => String(error),
  );
  assert.ok(taken !== "started", "a container cannot take an aux address");
  await docker(["rm", "-f", fixed.name, free.name]);
});

test("network connect adds a working second interface to a running container; disconnect removes it", async () => {
  const first = await tsnetNetwork(daemon.get());
  const second = await tsnetNetwork(daemon.get());
  const roamer = await runContainer({ network: first.name });
  const resident = await runContainer({ network: second.name });
  const residentAddress = await containerAddress(resident.name, second.name);
  assert.not.ok(await canPing(roamer.name, residentAddress), "isolated before connect");
  await connect(second.name, roamer.name);
  const interfaces = await containerInterfaces(roamer.name);
  assert.ok(interfaces.has("eth1"), `eth1 appears: ${[...interfaces.keys()].join(",")}`);
  const roamerAddress = await containerAddress(roamer.name, second.name);
  assert.ok(roamerAddress.startsWith(second.subnet.replace(/0\/24$/, "")), `${roamerAddress} is in ${second.subnet}`);
  assert.ok(await canPing(roamer.name, residentAddress), "roamer → resident over eth1");
  assert.ok(await canPing(resident.name, roamerAddress), "resident → roamer's eth1");
  await disconnect(second.name, roamer.name);
  assert.not.ok((await containerInterfaces(roamer.name)).has("eth1"), "eth1 is gone");
  assert.not.ok(await canPing(resident.name, roamerAddress), "the old address no longer answers");
  assert.ok(await canPing(roamer.name, first.gateway), "eth0 still works");
  await docker(["rm", "-f", roamer.name, resident.name]);
});

test("two tsnet networks are isolated, and a tsnet network from a Docker bridge network", async () => {
  const left = await tsnetNetwork(daemon.get());
  const right = await tsnetNetwork(daemon.get());
  const builtin = await createNetwork({ subnets: [await freeSubnet()] });
  const [l, r, d] = [
    await runContainer({ network: left.name }),
    await runContainer({ network: right.name }),
    await runContainer({ network: builtin.name }),
  ];
  const [lAddress, rAddress, dAddress] = [
    await containerAddress(l.name, left.name),
    await containerAddress(r.name, right.name),
    await containerAddress(d.name, builtin.name),
  ];
  assert.ok(await canPing(l.name, left.gateway), "sanity: l reaches its gateway");
  assert.not.ok(await canPing(l.name, rAddress), "left → right");
  assert.not.ok(await canPing(r.name, lAddress), "right → left");
  assert.not.ok(await canPing(l.name, dAddress), "tsnet → Docker bridge");
  assert.not.ok(await canPing(d.name, lAddress), "Docker bridge → tsnet");
  await docker(["rm", "-f", l.name, r.name, d.name]);
});

test("-o com.docker.network.driver.mtu=1400 gives eth0 an MTU of 1400 inside the container", async () => {
  const network = await tsnetNetwork(daemon.get(), { options: { "com.docker.network.driver.mtu": "1400" } });
  const container = await runContainer({ network: network.name });
  assert.is((await containerInterfaces(container.name)).get("eth0"), 1400);
  const peer = await runContainer({ network: network.name });
  const peerAddress = await containerAddress(peer.name, network.name);
  // 1372 bytes of payload + 28 of headers fill 1400 exactly; with DF set, a smaller MTU anywhere would fail it.
  const big = await execIn(container.name, ["ping", "-c", "1", "-W", "2", "-s", "1372", peerAddress]);
  assert.is(big.code, 0, big.stdout + big.stderr);
  await docker(["rm", "-f", container.name, peer.name]);
});

test("--ipv6: containers ping each other over IPv6", async () => {
  const v6 = randomUla64();
  const network = await tsnetNetwork(daemon.get(), { subnets: [await freeSubnet(), v6], ipv6: true });
  const a = await runContainer({ network: network.name });
  const b = await runContainer({ network: network.name });
  const addressB = await containerAddress6(b.name, network.name);
  assert.ok(addressB.startsWith(v6.split("::")[0] as string), `${addressB} is in ${v6}`);
  assert.ok(
    await eventually(async () => (await execIn(a.name, ["ping6", "-c", "1", "-W", "2", addressB])).code === 0, 8_000),
    `a → ${addressB} (DAD may take a moment)`,
  );
  assert.match(await containerRoutes(a.name, 6), /default via/);
  await docker(["rm", "-f", a.name, b.name]);
});

test("--internal: no default route, no reach to the host's other addresses or another network's gateway", async () => {
  const internal = await tsnetNetwork(daemon.get(), { internal: true });
  const other = await tsnetNetwork(daemon.get());
  const dummy = await addDummyAddress();
  try {
    const a = await runContainer({ network: internal.name });
    const b = await runContainer({ network: internal.name });
    assert.ok(await canPing(a.name, await containerAddress(b.name, internal.name)), "inside the network works");
    assert.not.match(await containerRoutes(a.name), /default/);
    assert.not.ok(await canPing(a.name, other.gateway), "another network's gateway");
    assert.not.ok(await canPing(a.name, dummy.address), "a host address");
    // Even with a route added by hand (a root process in the container could), the firewall keeps it in.
    await execIn(a.name, ["ip", "route", "add", "default", "via", internal.gateway]);
    assert.not.ok(await canPing(a.name, dummy.address), "a host address, with a hand-made route");
    assert.not.ok(await canPing(a.name, other.gateway), "another network's gateway, with a hand-made route");
    await docker(["rm", "-f", a.name, b.name]);
  } finally {
    dummy.remove();
  }
});

test("enable_icc=false blocks container to container on the network, the gateway still answers", async () => {
  const network = await tsnetNetwork(daemon.get(), { options: { "com.docker.network.bridge.enable_icc": "false" } });
  const a = await runContainer({ network: network.name });
  const b = await runContainer({ network: network.name });
  const server = await runContainer({
    network: network.name,
    command: ["sh", "-c", "mkdir -p /www && echo icc > /www/index.html && exec httpd -f -p 8080 -h /www"],
  });
  assert.ok(await canPing(a.name, network.gateway), "a → gateway");
  assert.not.ok(await canPing(a.name, await containerAddress(b.name, network.name)), "a → b by address");
  assert.not.ok(await canPing(a.name, b.name), "a → b by name");
  const serverAddress = await containerAddress(server.name, network.name);
  assert.is(await fetchFromHost(`http://${serverAddress}:8080/`), "icc", "the host reaches the server");
  assert.is(await fetchIn(a.name, `http://${serverAddress}:8080/`), undefined, "a container does not");
  await docker(["rm", "-f", a.name, b.name, server.name]);
});

test.run();

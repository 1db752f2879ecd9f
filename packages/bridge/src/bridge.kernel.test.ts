/**
 * The bridge driver on the real kernel, run as root under `unshare -n` (a fresh network namespace per run):
 * networks and endpoints through the driver, the container ends attached to namespaces the test makes as
 * Docker does at SetKey, then pings with busybox.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  attachToNamespace,
  createNamedNamespace,
  deleteNamedNamespace,
  type NetlinkNamespace,
  NftFirewall,
  openNamespace,
} from "@tsnet/kernel";
import { MemoryStore } from "@tsnet/store/testing";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type BridgeDriver, createBridgeDriver } from "./driver.js";
import { isOwnLinkName } from "./names.js";
import { callContext, endpointOptions, endpointRequest, networkRequest, portBinding } from "./testing.js";

const prefix = `tst${randomBytes(2).toString("hex")}`;
const namespaces = new Set<string>();
let root: NetlinkNamespace;
let firewall: NftFirewall;
let driver: BridgeDriver;

function sh(command: string): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile("sh", ["-c", command], { timeout: 15_000 }, (error, stdout) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout: String(stdout) });
    });
  });
}

async function ping(ns: string, address: string): Promise<boolean> {
  return (await sh(`ip netns exec ${ns} busybox ping -c 1 -W 1 ${address}`)).code === 0;
}

/** Creates a network through the driver; returns its id. */
async function network(third: number, options: Parameters<typeof networkRequest>[0] = {}): Promise<string> {
  const request = networkRequest({
    ipv4Data: [
      { AddressSpace: "LocalDefault", Pool: `10.${third}.0.0/24`, Gateway: `10.${third}.0.1/24`, AuxAddresses: {} },
    ],
    ...options,
  });
  await driver.createNetwork(request, callContext());
  return request.NetworkID;
}

/** CreateEndpoint + Join through the driver, then what Docker does at SetKey. Returns the namespace name. */
async function container(networkId: string, third: number, host: number, suffix: string): Promise<string> {
  const address = `10.${third}.0.${host}/24`;
  const request = endpointRequest(networkId, { Address: address });
  await driver.createEndpoint(request, callContext());
  const joined = await driver.join({ ...request, SandboxKey: "", Options: endpointOptions() }, callContext());
  const name = `${prefix}-${suffix}`;
  namespaces.add(name);
  const path = await createNamedNamespace(name);
  await attachToNamespace(root.links, path, {
    link: joined.InterfaceName?.SrcName as string,
    name: `${joined.InterfaceName?.DstPrefix}0`,
    addresses: [address],
    ...(joined.Gateway === undefined ? {} : { gateway: joined.Gateway }),
  });
  return name;
}

async function ownLinks(): Promise<string[]> {
  return (await root.links.list()).map((link) => link.name).filter(isOwnLinkName);
}

const kernel = suite("bridge driver (kernel)");

kernel.before(async () => {
  root = await openNamespace();
  await root.links.setUp("lo");
  firewall = new NftFirewall({ names: { table: prefix, chain: `${prefix.toUpperCase()}-FWD`, comment: prefix } });
  driver = await createBridgeDriver({ namespace: root, firewall, store: new MemoryStore() });
});

kernel.after(async () => {
  await driver.close();
  for (const name of namespaces) await deleteNamedNamespace(name).catch(() => {});
  for (const name of await ownLinks()) await root.links.delete(name).catch(() => {});
  await firewall.flush().catch(() => {});
  await root.close();
});

kernel("two containers on one network ping each other; the MTU is on both veth ends", async () => {
  const id = await network(231, { generic: { "com.docker.network.driver.mtu": "1400" } });
  const a = await container(id, 231, 2, "a");
  const b = await container(id, 231, 3, "b");
  assert.ok(await ping(a, "10.231.0.3"), "a → b");
  assert.ok(await ping(b, "10.231.0.2"), "b → a");
  assert.ok(await ping(a, "10.231.0.1"), "a → gateway");
  const mtu = await sh(`ip netns exec ${a} cat /sys/class/net/eth0/mtu`);
  assert.is(mtu.stdout.trim(), "1400");
  const route = await sh(`ip netns exec ${a} ip route show default`);
  assert.match(route.stdout, /via 10\.231\.0\.1/);
});

kernel("enable_icc=false blocks traffic between containers of the network", async () => {
  const id = await network(232, { generic: { "com.docker.network.bridge.enable_icc": "false" } });
  const a = await container(id, 232, 2, "c");
  await container(id, 232, 3, "d");
  assert.not.ok(await ping(a, "10.232.0.3"));
});

kernel("two networks are isolated from each other", async () => {
  const one = await network(233);
  const two = await network(234);
  const a = await container(one, 233, 2, "e");
  await container(two, 234, 2, "f");
  assert.not.ok(await ping(a, "10.234.0.2"));
});

kernel("an internal network has no way out; a normal one reaches an outside address", async () => {
  // "Outside": a namespace behind a veth of the host with 10.235.0.1 ↔ 10.235.0.2.
  const outside = `${prefix}-out`;
  namespaces.add(outside);
  const outsidePath = await createNamedNamespace(outside);
  await root.links.addVethPair(`${prefix}o0`, `${prefix}o1`, { mtu: 1500, up: true });
  await root.addresses.add(`${prefix}o0`, "10.235.0.1/24");
  await attachToNamespace(root.links, outsidePath, { link: `${prefix}o1`, addresses: ["10.235.0.2/24"] });
  const open = await network(236);
  const internal = await network(237, { internal: true });
  const a = await container(open, 236, 2, "g");
  const b = await container(internal, 237, 2, "h");
  assert.ok(await ping(a, "10.235.0.2"), "normal network reaches out (masqueraded)");
  assert.not.ok(await ping(b, "10.235.0.2"), "internal network has no route out");
  // Even a container that adds a default route itself does not get through.
  await sh(`ip netns exec ${b} ip route add default via 10.237.0.1`);
  assert.not.ok(await ping(b, "10.235.0.2"), "internal network is firewalled");
  await root.links.delete(`${prefix}o0`);
});

kernel("a published port answers on the host address", async () => {
  const id = await network(238);
  const request = endpointRequest(id, { Address: "10.238.0.2/24" });
  await driver.createEndpoint(request, callContext());
  const joined = await driver.join({ ...request, SandboxKey: "", Options: endpointOptions() }, callContext());
  const name = `${prefix}-p`;
  namespaces.add(name);
  await attachToNamespace(root.links, await createNamedNamespace(name), {
    link: joined.InterfaceName?.SrcName as string,
    addresses: ["10.238.0.2/24"],
    gateway: joined.Gateway as string,
  });
  await driver.programExternalConnectivity(
    { ...request, Options: endpointOptions([portBinding(80, 18080, { HostIP: "10.238.0.1" })]) },
    callContext(),
  );
  const server = execFile("ip", ["netns", "exec", name, "busybox", "nc", "-l", "-p", "80", "-e", "echo", "hello"]);
  try {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const reply = await sh("busybox nc -w 2 10.238.0.1 18080 </dev/null");
    assert.match(reply.stdout, /hello/);
  } finally {
    server.kill();
  }
  await driver.revokeExternalConnectivity(request, callContext());
});

kernel("IPv6: containers get v6 addresses and the v6 gateway and ping each other over v6", async () => {
  const request = networkRequest({
    ipv4Data: [{ AddressSpace: "LocalDefault", Pool: "10.241.0.0/24", Gateway: "10.241.0.1/24", AuxAddresses: {} }],
    ipv6Data: [{ AddressSpace: "LocalDefault", Pool: "fd00:241::/64", Gateway: "fd00:241::1/64", AuxAddresses: {} }],
  });
  await driver.createNetwork(request, callContext());
  const names: string[] = [];
  for (const host of [2, 3]) {
    const endpoint = endpointRequest(request.NetworkID, {
      Address: `10.241.0.${host}/24`,
      AddressIPv6: `fd00:241::${host}/64`,
    });
    await driver.createEndpoint(endpoint, callContext());
    const joined = await driver.join({ ...endpoint, SandboxKey: "", Options: endpointOptions() }, callContext());
    assert.is(joined.GatewayIPv6, "fd00:241::1");
    const name = `${prefix}-v6${host}`;
    namespaces.add(name);
    await attachToNamespace(root.links, await createNamedNamespace(name), {
      link: joined.InterfaceName?.SrcName as string,
      addresses: [`10.241.0.${host}/24`, `fd00:241::${host}/64`],
      gateway: joined.Gateway as string,
      gateway6: joined.GatewayIPv6 as string,
    });
    names.push(name);
  }
  // Duplicate address detection holds new v6 addresses back for a moment: retry for up to 5 s.
  let answered = false;
  for (let attempt = 0; attempt < 10 && !answered; attempt++) {
    answered = (await sh(`ip netns exec ${names[0]} busybox ping -6 -c 1 -W 1 fd00:241::3`)).code === 0;
    if (!answered) await new Promise((resolve) => setTimeout(resolve, 500));
  }
  assert.ok(answered, "v6 ping");
});

kernel("a port published on every address answers on the host's loopback too", async () => {
  const id = await network(242);
  const request = endpointRequest(id, { Address: "10.242.0.2/24" });
  await driver.createEndpoint(request, callContext());
  const joined = await driver.join({ ...request, SandboxKey: "", Options: endpointOptions() }, callContext());
  const name = `${prefix}-lo`;
  namespaces.add(name);
  await attachToNamespace(root.links, await createNamedNamespace(name), {
    link: joined.InterfaceName?.SrcName as string,
    addresses: ["10.242.0.2/24"],
    gateway: joined.Gateway as string,
  });
  await driver.programExternalConnectivity(
    { ...request, Options: endpointOptions([portBinding(80, 18081)]) },
    callContext(),
  );
  const server = execFile("ip", ["netns", "exec", name, "busybox", "nc", "-l", "-p", "80", "-e", "echo", "hello"]);
  try {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const reply = await sh("busybox nc -w 2 127.0.0.1 18081 </dev/null");
    assert.match(reply.stdout, /hello/);
  } finally {
    server.kill();
  }
  await driver.revokeExternalConnectivity(request, callContext());
});

kernel("a published port is reachable from a container on another network through the host address", async () => {
  const id = await network(244);
  const request = endpointRequest(id, { Address: "10.244.0.2/24" });
  await driver.createEndpoint(request, callContext());
  const joined = await driver.join({ ...request, SandboxKey: "", Options: endpointOptions() }, callContext());
  const server = `${prefix}-srv`;
  namespaces.add(server);
  await attachToNamespace(root.links, await createNamedNamespace(server), {
    link: joined.InterfaceName?.SrcName as string,
    addresses: ["10.244.0.2/24"],
    gateway: joined.Gateway as string,
  });
  await driver.programExternalConnectivity(
    { ...request, Options: endpointOptions([portBinding(80, 18082)]) },
    callContext(),
  );
  const other = await network(245);
  const client = await container(other, 245, 2, "cli");
  const listener = execFile("ip", ["netns", "exec", server, "busybox", "nc", "-l", "-p", "80", "-e", "echo", "hello"]);
  try {
    await new Promise((resolve) => setTimeout(resolve, 200));
    // 10.245.0.1 is the client's own gateway: an address of the host, like any host IP.
    const reply = await sh(`ip netns exec ${client} busybox nc -w 2 10.245.0.1 18082 </dev/null`);
    assert.match(reply.stdout, /hello/);
  } finally {
    listener.kill();
  }
  await driver.revokeExternalConnectivity(request, callContext());
});

kernel("teardown through the driver leaves no link of ours", async () => {
  const id = await network(239);
  const endpoints = [
    endpointRequest(id, { Address: "10.239.0.2/24" }),
    endpointRequest(id, { Address: "10.239.0.3/24" }),
  ];
  for (const request of endpoints) {
    await driver.createEndpoint(request, callContext());
    await driver.join({ ...request, SandboxKey: "", Options: endpointOptions() }, callContext());
  }
  for (const request of endpoints) {
    await driver.leave(request, callContext());
    await driver.deleteEndpoint(request, callContext());
  }
  await driver.deleteNetwork({ NetworkID: id }, callContext());
  await driver.drain();
  const left = (await ownLinks()).filter((name) => name.includes(id.slice(0, 10)));
  assert.equal(left, []);
});

kernel("the veth pool refills in the background and close() deletes its ready pairs", async () => {
  const staged = async () => (await root.links.list()).filter((link) => link.name.startsWith("tsvq-")).length;
  const before = await staged();
  const own = await createBridgeDriver({ namespace: root, firewall, store: new MemoryStore(), reconcile: false });
  const request = networkRequest({
    ipv4Data: [{ AddressSpace: "LocalDefault", Pool: "10.243.0.0/24", Gateway: "10.243.0.1/24", AuxAddresses: {} }],
  });
  await own.createNetwork(request, callContext());
  const endpoint = endpointRequest(request.NetworkID, { Address: "10.243.0.2/24" });
  await own.createEndpoint(endpoint, callContext());
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.ok((await staged()) > before, "pairs made ahead");
  await own.deleteEndpoint(endpoint, callContext());
  await own.deleteNetwork({ NetworkID: request.NetworkID }, callContext());
  await own.close();
  assert.is(await staged(), before);
});

kernel("reconcile after a restart recreates a deleted bridge and removes strays", async () => {
  const store = new MemoryStore();
  const first = await createBridgeDriver({ namespace: root, firewall, store });
  const request = networkRequest({
    ipv4Data: [{ AddressSpace: "LocalDefault", Pool: "10.240.0.0/24", Gateway: "10.240.0.1/24", AuxAddresses: {} }],
  });
  await first.createNetwork(request, callContext());
  await first.close();
  const bridge = `tsbr-${request.NetworkID.slice(0, 10)}`;
  await root.links.delete(bridge);
  await root.links.addVethPair("tsve-ffffffffff", "tsvp-ffffffffff", { mtu: 1500 });
  const second = await createBridgeDriver({ namespace: root, firewall, store });
  await second.drain();
  assert.equal(second.lastReconcile?.recreated, [bridge]);
  assert.ok(second.lastReconcile?.removed.includes("tsve-ffffffffff"));
  assert.is((await root.links.get(bridge))?.up, true);
  assert.ok((await root.addresses.list(bridge)).includes("10.240.0.1/24"));
  assert.is(await root.links.get("tsve-ffffffffff"), undefined);
  await second.deleteNetwork({ NetworkID: request.NetworkID }, callContext());
  await second.close();
});

kernel("reconcile leaves alone the links another daemon made (another link group)", async () => {
  const mine = await openNamespace(undefined, { linkGroup: 0x7354_0101 });
  const theirs = await openNamespace(undefined, { linkGroup: 0x7354_0202 });
  try {
    await theirs.links.addVethPair("tsve-eeeeeeeee1", "tsvp-eeeeeeeee1", { mtu: 1500 });
    await mine.links.addVethPair("tsve-eeeeeeeee2", "tsvp-eeeeeeeee2", { mtu: 1500 });
    const driver = await createBridgeDriver({ namespace: mine, firewall, store: new MemoryStore(), vethPool: false });
    await driver.drain();
    assert.ok(driver.lastReconcile?.removed.includes("tsve-eeeeeeeee2"), "own stray removed");
    assert.not.ok(driver.lastReconcile?.removed.includes("tsve-eeeeeeeee1"), "foreign link kept");
    assert.ok((await root.links.get("tsve-eeeeeeeee1")) !== undefined);
    await driver.close();
  } finally {
    await root.links.delete("tsve-eeeeeeeee1");
    await root.links.delete("tsve-eeeeeeeee2");
    await mine.close();
    await theirs.close();
  }
});

kernel.run();

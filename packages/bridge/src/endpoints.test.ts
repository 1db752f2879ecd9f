import { MemoryHost } from "@tsnet/kernel/testing";
import { TsnetError } from "@tsnet/protocol";
import { FailingStore, MemoryStore } from "@tsnet/store/testing";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { bridgeName, hostVethName, peerVethName } from "./names.js";
import {
  assertRejects,
  callContext,
  createMemoryBridge,
  endpointRequest,
  linkNames,
  randomId,
  rejectsWith,
  withNetwork,
} from "./testing.js";

const V6 = { AddressSpace: "LocalDefault", Pool: "fd00:99::/64", Gateway: "fd00:99::1/64", AuxAddresses: {} };

const create = suite("createEndpoint");

create(
  "makes a veth pair: host end tsve- on the bridge and up, container end tsvp- with the MAC, MTU on both",
  async () => {
    const {
      driver,
      namespace,
      networkId,
      bridgeName: bridge,
    } = await withNetwork({
      generic: { "com.docker.network.driver.mtu": "1450" },
    });
    const request = endpointRequest(networkId, { Address: "10.99.0.7/24" });
    const response = await driver.createEndpoint(request, callContext());
    assert.equal(response, { Interface: { MacAddress: "02:42:0a:63:00:07" } });
    const links = new Map(namespace.links.snapshot().map((link) => [link.name, link]));
    const host = links.get(hostVethName(request.EndpointID));
    const peer = links.get(peerVethName(request.EndpointID));
    assert.is(host?.name, `tsve-${request.EndpointID.slice(0, 10)}`);
    assert.is(host?.master, bridge);
    assert.is(host?.up, true);
    assert.is(host?.mtu, 1450);
    assert.is(peer?.mtu, 1450);
    assert.is(peer?.macAddress, "02:42:0a:63:00:07");
    for (const name of [host?.name ?? "", peer?.name ?? ""]) assert.ok(name.length <= 15, name);
  },
);

create(
  "turns hairpin mode on for the host end's bridge port (no userland proxy: a container reaches itself)",
  async () => {
    const { driver, namespace, networkId } = await withNetwork();
    const request = endpointRequest(networkId, { Address: "10.99.0.8/24" });
    await driver.createEndpoint(request, callContext());
    const host = namespace.links.snapshot().find((link) => link.name === hostVethName(request.EndpointID));
    assert.is(host?.hairpin, true);
    const peer = namespace.links.snapshot().find((link) => link.name === peerVethName(request.EndpointID));
    assert.is(peer?.hairpin, undefined, "the container end is no bridge port");
  },
);

create("a MAC Docker sent is used and never echoed in the reply", async () => {
  const { driver, namespace, networkId } = await withNetwork();
  const request = endpointRequest(networkId, { MacAddress: "02:42:AA:BB:CC:DD" });
  assert.equal(await driver.createEndpoint(request, callContext()), {});
  const peer = namespace.links.snapshot().find((link) => link.name === peerVethName(request.EndpointID));
  assert.is(peer?.macAddress, "02:42:aa:bb:cc:dd");
});

create("never fills Address or AddressIPv6", async () => {
  const { driver, networkId } = await withNetwork({ ipv6Data: [V6] });
  const response = await driver.createEndpoint(
    endpointRequest(networkId, { AddressIPv6: "fd00:99::5/64" }),
    callContext(),
  );
  assert.equal(Object.keys(response.Interface ?? {}), ["MacAddress"]);
});

create("without an IPv4 address the MAC is random, locally administered and unicast", async () => {
  const { driver, networkId } = await withNetwork();
  const response = await driver.createEndpoint(endpointRequest(networkId, { Address: "" }), callContext());
  const mac = response.Interface?.MacAddress ?? "";
  assert.match(mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
  assert.is(Number.parseInt(mac.slice(0, 2), 16) & 0x03, 0x02);
});

create("a replay answers as the first time and makes nothing new", async () => {
  const { driver, namespace, networkId } = await withNetwork();
  const request = endpointRequest(networkId);
  const first = await driver.createEndpoint(request, callContext());
  const links = linkNames(namespace);
  assert.equal(await driver.createEndpoint(structuredClone(request), callContext()), first);
  assert.equal(linkNames(namespace), links);
});

create("concurrent duplicates of one call make one pair", async () => {
  const { driver, namespace, networkId } = await withNetwork();
  const request = endpointRequest(networkId);
  const [a, b] = await Promise.all([
    driver.createEndpoint(request, callContext()),
    driver.createEndpoint(structuredClone(request), callContext()),
  ]);
  assert.equal(a, b);
  assert.is(linkNames(namespace).length, 3);
});

create("an unknown network is NOT_FOUND and leaves nothing", async () => {
  const { driver, namespace } = await createMemoryBridge();
  await assertRejects(
    driver.createEndpoint(endpointRequest(randomId()), callContext()),
    rejectsWith("NOT_FOUND"),
    "net",
  );
  assert.equal(linkNames(namespace), []);
});

for (const [field, value] of [
  ["Address", "10.99.0.300/24"],
  ["Address", "fd00::1/64"],
  ["AddressIPv6", "10.0.0.1/24"],
  ["MacAddress", "02:42:zz:00:00:01"],
] as const) {
  create(`Interface.${field} ${value} is INVALID_ARGUMENT naming the field`, async () => {
    const { driver, namespace, networkId } = await withNetwork();
    await assertRejects(
      driver.createEndpoint(endpointRequest(networkId, { [field]: value }), callContext()),
      rejectsWith("INVALID_ARGUMENT", new RegExp(`Interface\\.${field}`)),
      field,
    );
    assert.equal(linkNames(namespace).length, 1);
  });
}

create("a failure creating the pair or committing leaves no veth and no record", async () => {
  const store = new FailingStore(new MemoryStore());
  const memory = await createMemoryBridge({ store });
  const { driver, namespace, networkId } = await withNetwork({}, memory);
  namespace.links.failOn("addVethPair", new TsnetError("UNAVAILABLE", "injected"), { times: 1 });
  await assertRejects(
    driver.createEndpoint(endpointRequest(networkId), callContext()),
    rejectsWith("UNAVAILABLE"),
    "veth",
  );
  assert.equal(linkNames(namespace), [bridgeName(networkId)]);
  store.failNext();
  const request = endpointRequest(networkId);
  await assertRejects(driver.createEndpoint(request, callContext()), rejectsWith("UNAVAILABLE"), "commit");
  assert.equal(linkNames(namespace), [bridgeName(networkId)]);
  assert.equal(store.list("bridge/endpoints/"), []);
  await driver.createEndpoint(request, callContext());
  assert.is(linkNames(namespace).length, 3, "a retry succeeds");
});

create("a leftover link of another kind holding the name is replaced", async () => {
  const { driver, namespace, networkId } = await withNetwork();
  const request = endpointRequest(networkId);
  await namespace.links.addBridge(hostVethName(request.EndpointID), { mtu: 1500 });
  await driver.createEndpoint(request, callContext());
  const host = namespace.links.snapshot().find((link) => link.name === hostVethName(request.EndpointID));
  assert.is(host?.kind, "veth");
});

create.run();

const join = suite("join");

join(
  "returns the container end as SrcName with DstPrefix eth, and the IPv4 and IPv6 gateways as plain IPs",
  async () => {
    const { driver, networkId } = await withNetwork({ ipv6Data: [V6] });
    const request = endpointRequest(networkId, { AddressIPv6: "fd00:99::5/64" });
    await driver.createEndpoint(request, callContext());
    const response = await driver.join(
      { ...request, SandboxKey: "/var/run/docker/netns/x", Options: request.Options },
      callContext(),
    );
    assert.equal(response, {
      InterfaceName: { SrcName: peerVethName(request.EndpointID), DstPrefix: "eth" },
      Gateway: "10.99.0.1",
      GatewayIPv6: "fd00:99::1",
    });
  },
);

join("honours com.docker.network.container_iface_prefix", async () => {
  const { driver, networkId } = await withNetwork({ generic: { "com.docker.network.container_iface_prefix": "lab" } });
  const request = endpointRequest(networkId);
  await driver.createEndpoint(request, callContext());
  const response = await driver.join({ ...request, SandboxKey: "", Options: request.Options }, callContext());
  assert.is(response.InterfaceName?.DstPrefix, "lab");
});

join("picks the gateway of the subnet that holds the address (several IPv4 pools)", async () => {
  const { driver, networkId } = await withNetwork({
    ipv4Data: [
      { AddressSpace: "LocalDefault", Pool: "10.98.0.0/24", Gateway: "10.98.0.1/24", AuxAddresses: {} },
      { AddressSpace: "LocalDefault", Pool: "10.99.0.0/24", Gateway: "10.99.0.254/24", AuxAddresses: {} },
    ],
  });
  const request = endpointRequest(networkId, { Address: "10.99.0.9/24" });
  await driver.createEndpoint(request, callContext());
  const response = await driver.join({ ...request, SandboxKey: "", Options: request.Options }, callContext());
  assert.is(response.Gateway, "10.99.0.254");
});

join("an internal network gets no gateway, so containers get no default route", async () => {
  const { driver, networkId } = await withNetwork({ internal: true, ipv6Data: [V6] });
  const request = endpointRequest(networkId, { AddressIPv6: "fd00:99::5/64" });
  await driver.createEndpoint(request, callContext());
  const response = await driver.join({ ...request, SandboxKey: "", Options: request.Options }, callContext());
  assert.is(response.Gateway, undefined);
  assert.is(response.GatewayIPv6, undefined);
  assert.is(response.InterfaceName?.SrcName, peerVethName(request.EndpointID));
});

join("no gateway from IPAM means no Gateway in the reply", async () => {
  const { driver, networkId } = await withNetwork({
    ipv4Data: [{ AddressSpace: "LocalDefault", Pool: "10.99.0.0/24", AuxAddresses: {} }],
  });
  const request = endpointRequest(networkId);
  await driver.createEndpoint(request, callContext());
  const response = await driver.join({ ...request, SandboxKey: "", Options: request.Options }, callContext());
  assert.is(response.Gateway, undefined);
});

join("replays answer the same; an unknown endpoint is NOT_FOUND", async () => {
  const { driver, networkId } = await withNetwork();
  const request = endpointRequest(networkId);
  await driver.createEndpoint(request, callContext());
  const joinRequest = { ...request, SandboxKey: "", Options: request.Options };
  assert.equal(await driver.join(joinRequest, callContext()), await driver.join(joinRequest, callContext()));
  await assertRejects(
    driver.join({ ...joinRequest, EndpointID: randomId() }, callContext()),
    rejectsWith("NOT_FOUND"),
    "unknown",
  );
});

join.run();

const remove = suite("leave and deleteEndpoint");

remove("DeleteEndpoint answers before the slow kernel deletion, and the pair is gone after drain", async () => {
  const memory = await createMemoryBridge({ host: new MemoryHost({ latency: { delete: 20, deleteMany: 20 } }) });
  const { driver, namespace, networkId, bridgeName: bridge } = await withNetwork({}, memory);
  const request = endpointRequest(networkId);
  await driver.createEndpoint(request, callContext());
  await driver.leave(request, callContext());
  const started = performance.now();
  await driver.deleteEndpoint(request, callContext());
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 10, `DeleteEndpoint took ${elapsed.toFixed(1)} ms`);
  await driver.drain();
  assert.equal(linkNames(namespace), [bridge]);
});

remove("deleting many endpoints at once leaves no veth", async () => {
  const { driver, namespace, networkId, bridgeName: bridge } = await withNetwork();
  const requests = Array.from({ length: 50 }, (_, i) => endpointRequest(networkId, { Address: `10.99.0.${i + 2}/24` }));
  await Promise.all(requests.map((request) => driver.createEndpoint(request, callContext())));
  assert.is(linkNames(namespace).length, 101);
  await Promise.all(requests.map((request) => driver.deleteEndpoint(request, callContext())));
  await driver.drain();
  assert.equal(linkNames(namespace), [bridge]);
});

remove("the moved-back container end is deleted too", async () => {
  const { driver, namespace, host, networkId, bridgeName: bridge } = await withNetwork();
  const request = endpointRequest(networkId);
  await driver.createEndpoint(request, callContext());
  const sandbox = host.namespace("/var/run/docker/netns/abc");
  await namespace.links.moveToNamespace(peerVethName(request.EndpointID), "/var/run/docker/netns/abc", undefined, {
    newName: "eth0",
  });
  await driver.leave(request, callContext());
  await sandbox.links.moveToNamespace("eth0", MemoryHost.ROOT_PATH, undefined, {
    newName: peerVethName(request.EndpointID),
  });
  assert.ok(linkNames(namespace).includes(peerVethName(request.EndpointID)));
  await driver.deleteEndpoint(request, callContext());
  await driver.drain();
  assert.equal(linkNames(namespace), [bridge]);
  assert.equal(linkNames(sandbox), []);
});

remove("a container end left in a sandbox goes with the host end", async () => {
  const { driver, namespace, host, networkId, bridgeName: bridge } = await withNetwork();
  const request = endpointRequest(networkId);
  await driver.createEndpoint(request, callContext());
  const sandbox = host.namespace("/var/run/docker/netns/def");
  await namespace.links.moveToNamespace(peerVethName(request.EndpointID), "/var/run/docker/netns/def", undefined, {
    newName: "eth0",
  });
  await driver.deleteEndpoint(request, callContext());
  await driver.drain();
  assert.equal(linkNames(namespace), [bridge]);
  assert.equal(linkNames(sandbox), []);
});

remove("unknown ids and repeats succeed; a leftover veth by the derived name is removed", async () => {
  const { driver, namespace, networkId, bridgeName: bridge } = await withNetwork();
  const orphan = randomId();
  await namespace.links.addVethPair(hostVethName(orphan), peerVethName(orphan), { mtu: 1500 });
  await driver.deleteEndpoint({ NetworkID: networkId, EndpointID: orphan }, callContext());
  await driver.leave({ NetworkID: networkId, EndpointID: orphan }, callContext());
  await driver.deleteEndpoint({ NetworkID: randomId(), EndpointID: randomId() }, callContext());
  await driver.drain();
  assert.equal(linkNames(namespace), [bridge]);
});

remove("a DeleteEndpoint whose commit fails changes nothing; a retry removes the endpoint", async () => {
  const store = new FailingStore(new MemoryStore());
  const {
    driver,
    namespace,
    networkId,
    bridgeName: bridge,
  } = await withNetwork({}, await createMemoryBridge({ store }));
  const request = endpointRequest(networkId);
  await driver.createEndpoint(request, callContext());
  store.failNext();
  await assertRejects(driver.deleteEndpoint(request, callContext()), rejectsWith("UNAVAILABLE"), "commit");
  await driver.drain();
  assert.is(linkNames(namespace).length, 3);
  assert.is(store.list("bridge/endpoints/").length, 1);
  await driver.deleteEndpoint(request, callContext());
  await driver.drain();
  assert.equal(linkNames(namespace), [bridge]);
});

remove("DeleteNetwork with endpoints left (a forced delete) removes them too", async () => {
  const { driver, namespace, store, networkId } = await withNetwork();
  await driver.createEndpoint(endpointRequest(networkId), callContext());
  await driver.deleteNetwork({ NetworkID: networkId }, callContext());
  await driver.drain();
  assert.equal(linkNames(namespace), []);
  assert.equal(store.list(""), []);
});

remove.run();

const info = suite("endpointOperInfo");

info("reports the MAC and the host veth; unknown endpoints answer {}", async () => {
  const { driver, networkId } = await withNetwork();
  const request = endpointRequest(networkId, { Address: "10.99.0.3/24" });
  await driver.createEndpoint(request, callContext());
  assert.equal(await driver.endpointOperInfo(request, callContext()), {
    Value: {
      "com.docker.network.endpoint.macaddress": "02:42:0a:63:00:03",
      "tsnet.bridge.host_veth": hostVethName(request.EndpointID),
    },
  });
  assert.equal(await driver.endpointOperInfo({ NetworkID: networkId, EndpointID: randomId() }, callContext()), {
    Value: {},
  });
});

info.run();

import { TsnetError } from "@tsnet/protocol";
import { FailingStore, MemoryStore } from "@tsnet/store/testing";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { bridgeName } from "./names.js";
import {
  assertRejects,
  callContext,
  createMemoryBridge,
  linkNames,
  networkRequest,
  randomId,
  rejectsWith,
} from "./testing.js";

const create = suite("createNetwork");

create("makes an up bridge named tsbr- + 10 hex with the gateway address and the default MTU", async () => {
  const { driver, namespace, firewall } = await createMemoryBridge();
  const request = networkRequest();
  await driver.createNetwork(request, callContext());
  const bridge = namespace.links.snapshot().find((link) => link.name === bridgeName(request.NetworkID));
  assert.ok(bridge);
  assert.is(bridge.name, `tsbr-${request.NetworkID.slice(0, 10)}`);
  assert.is(bridge.kind, "bridge");
  assert.is(bridge.up, true);
  assert.is(bridge.mtu, 1500);
  assert.equal(namespace.addresses.snapshot()[bridge.name], ["10.99.0.1/24"]);
  assert.equal(firewall.network(request.NetworkID), {
    id: request.NetworkID,
    bridge: bridge.name,
    subnets: ["10.99.0.0/24"],
    internal: false,
    masquerade: true,
    icc: true,
    publishes: [],
  });
});

create("applies every bridge option with Docker's names", async () => {
  const { driver, namespace, firewall } = await createMemoryBridge();
  const request = networkRequest({
    generic: {
      "com.docker.network.bridge.name": "br-lab0",
      "com.docker.network.driver.mtu": "1400",
      "com.docker.network.bridge.enable_icc": "false",
      "com.docker.network.bridge.enable_ip_masquerade": "0",
      "com.docker.network.bridge.host_binding_ipv4": "127.0.0.1",
    },
  });
  await driver.createNetwork(request, callContext());
  const bridge = namespace.links.snapshot().find((link) => link.name === "br-lab0");
  assert.is(bridge?.mtu, 1400);
  const state = firewall.network(request.NetworkID);
  assert.is(state?.bridge, "br-lab0");
  assert.is(state?.icc, false);
  assert.is(state?.masquerade, false);
});

create("--internal: the firewall entry is internal and never masquerades", async () => {
  const { driver, firewall } = await createMemoryBridge();
  const request = networkRequest({ internal: true });
  await driver.createNetwork(request, callContext());
  assert.is(firewall.network(request.NetworkID)?.internal, true);
  assert.is(firewall.network(request.NetworkID)?.masquerade, false);
});

create("--ipv6: both gateways on the bridge and both subnets in the firewall", async () => {
  const { driver, namespace, firewall } = await createMemoryBridge();
  const request = networkRequest({
    ipv6Data: [{ AddressSpace: "LocalDefault", Pool: "fd00:99::/64", Gateway: "fd00:99::1/64", AuxAddresses: {} }],
  });
  await driver.createNetwork(request, callContext());
  assert.equal(namespace.addresses.snapshot()[bridgeName(request.NetworkID)], ["10.99.0.1/24", "fd00:99::1/64"]);
  assert.equal(firewall.network(request.NetworkID)?.subnets, ["10.99.0.0/24", "fd00:99::/64"]);
});

create("a replay with the same options succeeds and changes nothing", async () => {
  const { driver, namespace, firewall } = await createMemoryBridge();
  const request = networkRequest({ generic: { "com.docker.network.driver.mtu": "1400" } });
  await driver.createNetwork(request, callContext());
  const links = linkNames(namespace);
  const applies = firewall.applies;
  await driver.createNetwork(structuredClone(request), callContext());
  assert.equal(linkNames(namespace), links);
  assert.is(firewall.applies, applies);
});

create("the same id with other options is CONFLICT", async () => {
  const { driver } = await createMemoryBridge();
  const request = networkRequest();
  await driver.createNetwork(request, callContext());
  const other = networkRequest({ id: request.NetworkID, generic: { "com.docker.network.driver.mtu": "1400" } });
  await assertRejects(driver.createNetwork(other, callContext()), rejectsWith("CONFLICT"), "other options");
});

const badOptions: Array<[string, string, RegExp]> = [
  ["com.docker.network.bridge.name", "a-name-longer-than-15", /com\.docker\.network\.bridge\.name/],
  ["com.docker.network.bridge.name", "br/0", /com\.docker\.network\.bridge\.name/],
  ["com.docker.network.bridge.name", "br 0", /com\.docker\.network\.bridge\.name/],
  ["com.docker.network.bridge.name", "", /com\.docker\.network\.bridge\.name/],
  ["com.docker.network.driver.mtu", "67", /com\.docker\.network\.driver\.mtu/],
  ["com.docker.network.driver.mtu", "65536", /com\.docker\.network\.driver\.mtu/],
  ["com.docker.network.driver.mtu", "abc", /com\.docker\.network\.driver\.mtu/],
  ["com.docker.network.driver.mtu", "-1", /com\.docker\.network\.driver\.mtu/],
  ["com.docker.network.bridge.enable_icc", "yes", /com\.docker\.network\.bridge\.enable_icc/],
  ["com.docker.network.bridge.enable_ip_masquerade", "nope", /enable_ip_masquerade/],
  ["com.docker.network.bridge.host_binding_ipv4", "localhost", /host_binding_ipv4/],
  ["com.docker.network.bridge.host_binding_ipv4", "::1", /host_binding_ipv4/],
  ["com.docker.network.container_iface_prefix", "a/b", /container_iface_prefix/],
];
for (const [key, value, pattern] of badOptions) {
  create(`${key}=${JSON.stringify(value)} is INVALID_ARGUMENT naming the option; nothing is left behind`, async () => {
    const { driver, namespace, firewall, store } = await createMemoryBridge();
    const request = networkRequest({ generic: { [key]: value } });
    await assertRejects(driver.createNetwork(request, callContext()), rejectsWith("INVALID_ARGUMENT", pattern), key);
    assert.equal(linkNames(namespace), []);
    assert.equal(firewall.state, []);
    assert.equal(store.list(""), []);
  });
}

create("an MTU below 1280 with --ipv6 is INVALID_ARGUMENT naming the MTU option", async () => {
  const { driver } = await createMemoryBridge();
  const request = networkRequest({
    generic: { "com.docker.network.driver.mtu": "1200" },
    ipv6Data: [{ AddressSpace: "LocalDefault", Pool: "fd00:99::/64", Gateway: "fd00:99::1/64", AuxAddresses: {} }],
  });
  await assertRejects(
    driver.createNetwork(request, callContext()),
    rejectsWith("INVALID_ARGUMENT", /driver\.mtu.*1280/),
    "mtu",
  );
});

create("unknown com.docker.network.bridge.* options are ignored, as Docker's bridge does", async () => {
  const { driver, firewall } = await createMemoryBridge();
  const request = networkRequest({ generic: { "com.docker.network.bridge.inhibit_ipv4": "true", foo: "bar" } });
  await driver.createNetwork(request, callContext());
  assert.ok(firewall.network(request.NetworkID));
});

create("a bridge name another network uses is CONFLICT naming the option", async () => {
  const { driver, namespace } = await createMemoryBridge();
  const generic = { "com.docker.network.bridge.name": "br-shared" };
  await driver.createNetwork(networkRequest({ generic }), callContext());
  const second = networkRequest({ generic });
  await assertRejects(
    driver.createNetwork(second, callContext()),
    rejectsWith("CONFLICT", /com\.docker\.network\.bridge\.name "br-shared"/),
    "shared",
  );
  assert.equal(linkNames(namespace), ["br-shared"]);
});

create("a bridge name held by a link of another kind is CONFLICT", async () => {
  const { driver, namespace } = await createMemoryBridge();
  await namespace.links.addVethPair("br-taken", "br-taken-p", { mtu: 1500 });
  const request = networkRequest({ generic: { "com.docker.network.bridge.name": "br-taken" } });
  await assertRejects(driver.createNetwork(request, callContext()), rejectsWith("CONFLICT", /veth/), "veth");
});

create("an existing user bridge is adopted and left in place on delete, minus the gateway address", async () => {
  const { driver, namespace } = await createMemoryBridge();
  await namespace.links.addBridge("br-user", { mtu: 1500 });
  const request = networkRequest({ generic: { "com.docker.network.bridge.name": "br-user" } });
  await driver.createNetwork(request, callContext());
  assert.equal(namespace.addresses.snapshot()["br-user"], ["10.99.0.1/24"]);
  await driver.deleteNetwork({ NetworkID: request.NetworkID }, callContext());
  assert.equal(linkNames(namespace), ["br-user"]);
  assert.equal(namespace.addresses.snapshot()["br-user"], undefined);
});

const steps: Array<[string, (bridge: Awaited<ReturnType<typeof createMemoryBridge>>) => void]> = [
  ["addBridge", (b) => b.namespace.links.failOn("addBridge", new TsnetError("UNAVAILABLE", "injected"))],
  ["addresses.add (IPv4)", (b) => b.namespace.addresses.failOn("add", new TsnetError("UNAVAILABLE", "injected"))],
  [
    "addresses.add (IPv6)",
    (b) => b.namespace.addresses.failOn("add", new TsnetError("UNAVAILABLE", "injected"), { skip: 1 }),
  ],
  ["setUp", (b) => b.namespace.links.failOn("setUp", new TsnetError("UNAVAILABLE", "injected"))],
  ["firewall.apply", (b) => b.firewall.failOn("apply", new TsnetError("UNAVAILABLE", "injected"), { times: 1 })],
];
for (const [step, arm] of steps) {
  create(`a failure at ${step} leaves no bridge, address, rule or record`, async () => {
    const memory = await createMemoryBridge();
    arm(memory);
    const request = networkRequest({
      ipv6Data: [{ AddressSpace: "LocalDefault", Pool: "fd00:99::/64", Gateway: "fd00:99::1/64", AuxAddresses: {} }],
    });
    await assertRejects(memory.driver.createNetwork(request, callContext()), rejectsWith("UNAVAILABLE"), step);
    assert.equal(linkNames(memory.namespace), []);
    assert.equal(memory.namespace.addresses.snapshot(), {});
    assert.equal(memory.firewall.state, []);
    assert.equal(memory.store.list(""), []);
    memory.namespace.links.clearFailures();
    memory.namespace.addresses.clearFailures();
    await memory.driver.createNetwork(request, callContext());
    assert.ok(memory.firewall.network(request.NetworkID), "a retry succeeds");
  });
}

create("a failed store commit undoes the kernel and firewall work", async () => {
  const store = new FailingStore(new MemoryStore());
  const memory = await createMemoryBridge({ store });
  store.failNext();
  await assertRejects(
    memory.driver.createNetwork(networkRequest(), callContext()),
    rejectsWith("UNAVAILABLE"),
    "commit",
  );
  assert.equal(linkNames(memory.namespace), []);
  assert.equal(memory.firewall.state, []);
});

create("concurrent creates of two networks naming the same bridge: one wins, the other is CONFLICT", async () => {
  const { driver, namespace } = await createMemoryBridge();
  const generic = { "com.docker.network.bridge.name": "br-race" };
  const results = await Promise.allSettled([
    driver.createNetwork(networkRequest({ generic }), callContext()),
    driver.createNetwork(networkRequest({ generic }), callContext()),
  ]);
  assert.equal(results.map((r) => r.status).sort(), ["fulfilled", "rejected"]);
  assert.equal(linkNames(namespace), ["br-race"]);
});

create("a pool overlapping another network's is CONFLICT; disjoint pools and other families are fine", async () => {
  const { driver } = await createMemoryBridge();
  const pool = (cidr: string, gateway: string) => [
    { AddressSpace: "x", Pool: cidr, Gateway: gateway, AuxAddresses: {} },
  ];
  await driver.createNetwork(networkRequest({ ipv4Data: pool("10.60.0.0/16", "10.60.0.1/16") }), callContext());
  await assertRejects(
    driver.createNetwork(networkRequest({ ipv4Data: pool("10.60.5.0/24", "10.60.5.1/24") }), callContext()),
    rejectsWith("CONFLICT", /10\.60\.5\.0\/24 overlaps 10\.60\.0\.0\/16/),
    "overlap",
  );
  await driver.createNetwork(networkRequest({ ipv4Data: pool("10.61.0.0/24", "10.61.0.1/24") }), callContext());
});

create.run();

const remove = suite("deleteNetwork");

remove("removes the bridge, its rules and its record", async () => {
  const { driver, namespace, firewall, store } = await createMemoryBridge();
  const request = networkRequest();
  await driver.createNetwork(request, callContext());
  await driver.deleteNetwork({ NetworkID: request.NetworkID }, callContext());
  await driver.drain();
  assert.equal(linkNames(namespace), []);
  assert.equal(firewall.state, []);
  assert.equal(store.list(""), []);
});

remove("succeeds for an unknown id, and for a second delete", async () => {
  const { driver } = await createMemoryBridge();
  await driver.deleteNetwork({ NetworkID: randomId() }, callContext());
  const request = networkRequest();
  await driver.createNetwork(request, callContext());
  await driver.deleteNetwork({ NetworkID: request.NetworkID }, callContext());
  await driver.deleteNetwork({ NetworkID: request.NetworkID }, callContext());
});

remove("succeeds even when the kernel and firewall fail", async () => {
  const { driver, namespace, firewall } = await createMemoryBridge();
  const request = networkRequest();
  await driver.createNetwork(request, callContext());
  namespace.links.failOn("delete", new TsnetError("UNAVAILABLE", "injected"));
  firewall.failOn("apply", new TsnetError("UNAVAILABLE", "injected"));
  await driver.deleteNetwork({ NetworkID: request.NetworkID }, callContext());
});

remove("the bridge name can be used again at once", async () => {
  const { driver, namespace } = await createMemoryBridge();
  const generic = { "com.docker.network.bridge.name": "br-again" };
  const first = networkRequest({ generic });
  await driver.createNetwork(first, callContext());
  await driver.deleteNetwork({ NetworkID: first.NetworkID }, callContext());
  await driver.createNetwork(networkRequest({ generic }), callContext());
  await driver.drain();
  assert.equal(linkNames(namespace), ["br-again"]);
});

remove.run();

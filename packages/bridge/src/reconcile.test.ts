import { MemoryHost } from "@tsnet/kernel/testing";
import { TsnetError } from "@tsnet/protocol";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { hostVethName, peerVethName } from "./names.js";
import {
  callContext,
  createMemoryBridge,
  endpointOptions,
  endpointRequest,
  linkNames,
  networkRequest,
  portBinding,
  randomId,
} from "./testing.js";

/** A driver with one network and two endpoints (one publishing 8080), then a "restart": a new driver on the same store. */
async function restarted(damage: (host: MemoryHost, ids: { bridge: string; hosts: string[] }) => Promise<void>) {
  const first = await createMemoryBridge();
  const network = networkRequest({ generic: { "com.docker.network.driver.mtu": "1400" } });
  await first.driver.createNetwork(network, callContext());
  const endpoints = [
    endpointRequest(network.NetworkID),
    endpointRequest(network.NetworkID, { Address: "10.99.0.3/24" }),
  ];
  for (const endpoint of endpoints) await first.driver.createEndpoint(endpoint, callContext());
  const published = endpoints[0] as (typeof endpoints)[0];
  await first.driver.programExternalConnectivity(
    { ...published, Options: endpointOptions([portBinding(80, 8080)]) },
    callContext(),
  );
  await first.driver.close();
  const bridge = first.firewall.network(network.NetworkID)?.bridge as string;
  await damage(first.host, { bridge, hosts: endpoints.map((e) => hostVethName(e.EndpointID)) });
  const second = await createMemoryBridge({ host: first.host, store: first.store });
  await second.driver.drain();
  return { first, second, network, endpoints, bridge };
}

const reconcile = suite("reconcile");

reconcile("with nothing missing it changes nothing and rebuilds the firewall state", async () => {
  const { second, first, network } = await restarted(async () => {});
  const summary = second.driver.lastReconcile;
  assert.equal(summary, { networks: 1, endpoints: 2, recreated: [], repaired: [], removed: [], failed: [] });
  assert.equal(second.firewall.state, first.firewall.state);
  assert.is(second.firewall.network(network.NetworkID)?.publishes[0]?.hostPort, 8080);
});

reconcile("recreates a missing bridge (MTU, address, up) and re-enslaves the veths", async () => {
  const { second, bridge, endpoints } = await restarted(async (host, ids) => {
    await host.root.links.delete(ids.bridge);
  });
  assert.equal(second.driver.lastReconcile?.recreated, [bridge]);
  const links = new Map(second.namespace.links.snapshot().map((link) => [link.name, link]));
  assert.is(links.get(bridge)?.mtu, 1400);
  assert.is(links.get(bridge)?.up, true);
  assert.equal(second.namespace.addresses.snapshot()[bridge], ["10.99.0.1/24"]);
  for (const endpoint of endpoints) assert.is(links.get(hostVethName(endpoint.EndpointID))?.master, bridge);
});

reconcile("recreates a missing host veth with its MTU, MAC and master", async () => {
  const { second, bridge, endpoints } = await restarted(async (host, ids) => {
    await host.root.links.delete(ids.hosts[1] as string);
  });
  const endpoint = endpoints[1] as (typeof endpoints)[1];
  assert.equal(second.driver.lastReconcile?.recreated, [hostVethName(endpoint.EndpointID)]);
  const links = new Map(second.namespace.links.snapshot().map((link) => [link.name, link]));
  assert.is(links.get(hostVethName(endpoint.EndpointID))?.master, bridge);
  assert.is(links.get(hostVethName(endpoint.EndpointID))?.hairpin, true, "hairpin, as CreateEndpoint sets it");
  assert.is(links.get(peerVethName(endpoint.EndpointID))?.mtu, 1400);
  assert.is(links.get(peerVethName(endpoint.EndpointID))?.macAddress, "02:42:0a:63:00:03");
});

reconcile("removes links with our prefixes that no record names, and leaves others alone", async () => {
  const stray = randomId();
  const { second, bridge } = await restarted(async (host) => {
    await host.root.links.addVethPair(hostVethName(stray), peerVethName(stray), { mtu: 1500 });
    await host.root.links.addBridge("tsbr-0123456789", { mtu: 1500 });
    await host.root.links.addBridge("docker0", { mtu: 1500 });
  });
  const removed = second.driver.lastReconcile?.removed ?? [];
  assert.equal([...removed].sort(), [hostVethName(stray), peerVethName(stray), "tsbr-0123456789"].sort());
  assert.ok(linkNames(second.namespace).includes("docker0"));
  assert.ok(linkNames(second.namespace).includes(bridge));
  assert.not.ok(linkNames(second.namespace).includes(hostVethName(stray)));
});

reconcile("repairs a host veth that lost its master or went down", async () => {
  const { second, endpoints, bridge } = await restarted(async (host, ids) => {
    await host.root.links.delete(ids.bridge);
    await host.root.links.addBridge(ids.bridge, { mtu: 1400 });
  });
  const links = new Map(second.namespace.links.snapshot().map((link) => [link.name, link]));
  for (const endpoint of endpoints) assert.is(links.get(hostVethName(endpoint.EndpointID))?.master, bridge);
  // The bridge came back down: it is brought up, and both veths go back on it.
  assert.equal(
    [...(second.driver.lastReconcile?.repaired ?? [])].sort(),
    [bridge, ...endpoints.map((e) => hostVethName(e.EndpointID))].sort(),
  );
  assert.is(links.get(bridge)?.up, true);
});

reconcile("the ports held before the restart stay held", async () => {
  const { second, network } = await restarted(async () => {});
  const other = endpointRequest(network.NetworkID, { Address: "10.99.0.9/24" });
  await second.driver.createEndpoint(other, callContext());
  let error: unknown;
  try {
    await second.driver.programExternalConnectivity(
      { ...other, Options: endpointOptions([portBinding(80, 8080)]) },
      callContext(),
    );
  } catch (e) {
    error = e;
  }
  assert.match(String(error), /8080\/tcp/);
});

reconcile("a failing object is listed in failed and does not stop the others", async () => {
  const host = new MemoryHost();
  const first = await createMemoryBridge({ host });
  const a = networkRequest();
  const b = networkRequest({
    ipv4Data: [{ AddressSpace: "x", Pool: "10.98.0.0/24", Gateway: "10.98.0.1/24", AuxAddresses: {} }],
  });
  await first.driver.createNetwork(a, callContext());
  await first.driver.createNetwork(b, callContext());
  for (const link of host.root.links.snapshot()) await host.root.links.delete(link.name);
  host.root.links.failOn("addBridge", new TsnetError("UNAVAILABLE", "injected"), { times: 1 });
  const second = await createMemoryBridge({ host, store: first.store });
  assert.is(second.driver.lastReconcile?.failed.length, 1);
  assert.is(second.driver.lastReconcile?.recreated.length, 1);
});

reconcile.run();

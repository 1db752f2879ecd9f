import type { MemoryBridge } from "@tsnet/bridge/testing";
import {
  callContext,
  createMemoryBridge,
  endpointRequest,
  linkNames,
  networkRequest,
  randomId,
} from "@tsnet/bridge/testing";
import { createIpam, GATEWAY_ADDRESS_TYPE, type Ipam, REQUEST_ADDRESS_TYPE } from "@tsnet/ipam";
import { StaticHostNetworks } from "@tsnet/ipam/testing";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Activity, trackIpamDriver, trackNetworkDriver } from "./activity.js";
import { reconcileWithDocker, startDockerReconcile } from "./reconciler.js";
import { FakeDockerApi } from "./testing.js";

const PLUGIN = "tsnettest";

/** A daemon as compose.ts wires it: bridge + IPAM on one store, both tracked, and a fake Docker. */
interface World {
  bridge: MemoryBridge;
  ipam: Ipam;
  docker: FakeDockerApi;
  activity: Activity;
  /** `docker network create -d PLUGIN --ipam-driver PLUGIN --subnet SUBNET`: IPAM calls, CreateNetwork, Docker's record. */
  createNetwork(
    subnet: string,
    options?: { aux?: string; userGateway?: boolean },
  ): Promise<{ id: string; poolId: string }>;
  /** `docker run --network`: RequestAddress, CreateEndpoint, Docker's record. */
  runContainer(network: { id: string; poolId: string }): Promise<{ endpointId: string; address: string }>;
}

async function world(): Promise<World> {
  const bridge = await createMemoryBridge();
  const ipam = await createIpam({ store: bridge.store, hostNetworks: new StaticHostNetworks() });
  const docker = new FakeDockerApi();
  const activity = new Activity();
  const driver = trackNetworkDriver(bridge.driver, activity);
  const trackedIpam = trackIpamDriver(ipam, activity);
  return {
    bridge,
    ipam,
    docker,
    activity,
    async createNetwork(subnet, options = {}) {
      const { PoolID } = await trackedIpam.requestPool(
        { AddressSpace: "LocalDefault", Pool: subnet, SubPool: "", Options: {}, V6: false },
        callContext(),
      );
      const gateway = await trackedIpam.requestAddress(
        { PoolID, Address: "", Options: { [REQUEST_ADDRESS_TYPE]: GATEWAY_ADDRESS_TYPE } },
        callContext(),
      );
      const auxData: Record<string, string> = {};
      if (options.aux !== undefined) {
        const aux = await trackedIpam.requestAddress({ PoolID, Address: options.aux, Options: {} }, callContext());
        auxData.host = aux.Address;
      }
      const id = randomId();
      await driver.createNetwork(
        networkRequest({
          id,
          ipv4Data: [{ AddressSpace: "LocalDefault", Pool: subnet, Gateway: gateway.Address, AuxAddresses: auxData }],
        }),
        callContext(),
      );
      docker.addNetwork({
        id,
        driver: PLUGIN,
        ipamDriver: PLUGIN,
        config: [
          {
            Subnet: subnet,
            ...(options.userGateway ? { Gateway: gateway.Address.split("/")[0] as string } : {}),
            ...(options.aux !== undefined ? { AuxiliaryAddresses: { host: options.aux } } : {}),
          },
        ],
      });
      return { id, poolId: PoolID };
    },
    async runContainer(network) {
      const { Address } = await trackedIpam.requestAddress(
        { PoolID: network.poolId, Address: "", Options: {} },
        callContext(),
      );
      const request = endpointRequest(network.id, { Address });
      await driver.createEndpoint(request, callContext());
      docker.addEndpoint(network.id, { EndpointID: request.EndpointID, IPv4Address: Address, IPv6Address: "" });
      return { endpointId: request.EndpointID, address: Address };
    },
  };
}

function reconcile(w: World, graceMs = 0) {
  return reconcileWithDocker({
    docker: w.docker,
    pluginName: PLUGIN,
    store: w.bridge.store,
    networkDriver: w.bridge.driver,
    ipam: w.ipam,
    activity: w.activity,
    graceMs,
  });
}

const test = suite("reconcileWithDocker");

test("changes nothing when Docker has every network, endpoint, gateway and aux address tsnet holds", async () => {
  const w = await world();
  const network = await w.createNetwork("10.50.0.0/24", { aux: "10.50.0.200" });
  await w.runContainer(network);
  await w.runContainer(network);
  const before = w.ipam.allocations(network.poolId);
  const summary = await reconcile(w);
  assert.equal(summary.released, { networks: [], endpoints: [], pools: [], addresses: [] });
  assert.equal(summary.checked, { networks: 1, endpoints: 2, pools: 1, addresses: 4 });
  assert.equal(w.ipam.allocations(network.poolId), before);
  assert.equal(summary.dockerNetworks, 1);
});

test("a network Docker removed while the plugin was down loses its bridge, veths, endpoints and pool", async () => {
  const w = await world();
  const gone = await w.createNetwork("10.51.0.0/24");
  await w.runContainer(gone);
  const kept = await w.createNetwork("10.52.0.0/24");
  await w.runContainer(kept);
  w.docker.networks.delete(gone.id);
  const summary = await reconcile(w);
  await w.bridge.driver.drain();
  assert.equal(summary.released.networks, [gone.id]);
  assert.equal(summary.released.pools, [gone.poolId]);
  assert.equal(
    w.ipam.pools().map((pool) => pool.poolId),
    [kept.poolId],
  );
  const links = linkNames(w.bridge.namespace);
  assert.ok(!links.some((name) => name.startsWith(`tsbr-${gone.id.slice(0, 10)}`)), links.join(","));
  assert.equal(links.filter((name) => name.startsWith("tsbr-")).length, 1);
  assert.equal(links.filter((name) => name.startsWith("tsve-")).length, 1);
  assert.equal(w.bridge.store.list(`bridge/endpoints/${gone.id}/`).length, 0);
});

test("a container Docker removed while the plugin was down loses its veth and address; the gateway stays", async () => {
  const w = await world();
  const network = await w.createNetwork("10.53.0.0/24");
  const stays = await w.runContainer(network);
  const goes = await w.runContainer(network);
  w.docker.removeEndpoint(network.id, goes.endpointId);
  const summary = await reconcile(w);
  await w.bridge.driver.drain();
  assert.equal(summary.released.endpoints, [{ networkId: network.id, endpointId: goes.endpointId }]);
  assert.equal(summary.released.addresses, [{ poolId: network.poolId, address: goes.address.split("/")[0] }]);
  assert.equal(w.ipam.allocations(network.poolId), ["10.53.0.1", stays.address.split("/")[0]]);
  assert.equal(linkNames(w.bridge.namespace).filter((name) => name.startsWith("tsve-")).length, 1);
});

test("an address whose reply was lost (Docker asked again and got another) is released", async () => {
  const w = await world();
  const network = await w.createNetwork("10.54.0.0/24", { userGateway: true });
  await w.ipam.requestAddress({ PoolID: network.poolId, Address: "", Options: {} }, callContext()); // reply lost
  await w.runContainer(network);
  const summary = await reconcile(w);
  assert.equal(summary.released.addresses, [{ poolId: network.poolId, address: "10.54.0.2" }]);
  assert.equal(w.ipam.allocations(network.poolId), ["10.54.0.1", "10.54.0.3"]);
});

test("pools of networks that use only tsnet's IPAM (-d bridge --ipam-driver tsnet) are matched by subnet", async () => {
  const w = await world();
  const { PoolID } = await w.ipam.requestPool(
    { AddressSpace: "LocalDefault", Pool: "10.55.0.0/24", SubPool: "10.55.0.128/25", Options: {}, V6: false },
    callContext(),
  );
  const orphanPool = await w.ipam.requestPool(
    { AddressSpace: "LocalDefault", Pool: "10.56.0.0/24", SubPool: "", Options: {}, V6: false },
    callContext(),
  );
  w.docker.addNetwork({
    id: randomId(),
    driver: "bridge",
    ipamDriver: PLUGIN,
    config: [{ Subnet: "10.55.0.0/24", IPRange: "10.55.0.128/25" }],
  });
  w.docker.addNetwork({
    id: randomId(),
    driver: "bridge",
    ipamDriver: "default",
    config: [{ Subnet: "10.56.0.0/24" }],
  });
  const summary = await reconcile(w);
  assert.equal(summary.released.pools, [orphanPool.PoolID]);
  assert.equal(
    w.ipam.pools().map((pool) => pool.poolId),
    [PoolID],
  );
});

test("an address half-way through docker run at the first look is kept once Docker stores its endpoint", async () => {
  const w = await world();
  const network = await w.createNetwork("10.57.0.0/24");
  w.docker.networks.delete(network.id);
  w.docker.addNetwork({ id: network.id, driver: PLUGIN, ipamDriver: PLUGIN, config: [{ Subnet: "10.57.0.0/24" }] });
  const halfway = await w.ipam.requestAddress({ PoolID: network.poolId, Address: "", Options: {} }, callContext());
  let looks = 0;
  w.docker.onCall = (call) => {
    if (call === "list" && ++looks === 2) {
      w.docker.addEndpoint(network.id, { EndpointID: randomId(), IPv4Address: halfway.Address, IPv6Address: "" });
    }
  };
  const summary = await reconcile(w, 20);
  assert.equal(looks, 2);
  assert.equal(summary.released.addresses, []);
  assert.ok(w.ipam.allocations(network.poolId).includes(halfway.Address.split("/")[0] as string));
});

test("an endpoint Docker calls during the grace period is kept", async () => {
  const w = await world();
  const network = await w.createNetwork("10.63.0.0/24");
  const busy = await w.runContainer(network);
  w.docker.removeEndpoint(network.id, busy.endpointId);
  const tracked = trackNetworkDriver(w.bridge.driver, w.activity);
  const running = reconcile(w, 50);
  await new Promise((resolve) => setTimeout(resolve, 10));
  await tracked.leave({ NetworkID: network.id, EndpointID: busy.endpointId }, callContext());
  const summary = await running;
  assert.equal(summary.released.endpoints, []);
  assert.equal(w.bridge.store.list(`bridge/endpoints/${network.id}/`).length, 1);
});

test("an address Docker re-requests during the grace period is kept", async () => {
  const w = await world();
  const network = await w.createNetwork("10.58.0.0/24");
  const { Address } = await w.ipam.requestAddress({ PoolID: network.poolId, Address: "", Options: {} }, callContext());
  const trackedIpam = trackIpamDriver(w.ipam, w.activity);
  const running = reconcile(w, 50);
  await new Promise((resolve) => setTimeout(resolve, 10));
  // Docker releases it and a new container gets it again before the second look.
  await trackedIpam.releaseAddress({ PoolID: network.poolId, Address: Address.split("/")[0] as string }, callContext());
  await trackedIpam.requestAddress({ PoolID: network.poolId, Address: "", Options: {} }, callContext());
  const summary = await running;
  assert.equal(summary.released.addresses, []);
  assert.ok(w.ipam.allocations(network.poolId).includes(Address.split("/")[0] as string));
});

test("an object Docker adds between the two looks is never released", async () => {
  const w = await world();
  const network = await w.createNetwork("10.59.0.0/24");
  w.docker.networks.delete(network.id); // an orphan, so a second look happens
  const other = await w.createNetwork("10.60.0.0/24");
  w.docker.networks.delete(other.id); // network created, Docker's record not stored yet
  let looks = 0;
  w.docker.onCall = (call) => {
    if (call === "list" && ++looks === 2) {
      w.docker.addNetwork({ id: other.id, driver: PLUGIN, ipamDriver: PLUGIN, config: [{ Subnet: "10.60.0.0/24" }] });
    }
  };
  const summary = await reconcile(w, 20);
  assert.equal(summary.released.networks, [network.id]);
  assert.equal(summary.released.pools, [network.poolId]);
  assert.equal(
    w.ipam.pools().map((pool) => pool.poolId),
    [other.poolId],
  );
});

test("fails with UNAVAILABLE and releases nothing when Docker does not answer", async () => {
  const w = await world();
  const network = await w.createNetwork("10.61.0.0/24");
  w.docker.networks.delete(network.id);
  w.docker.fail(1);
  try {
    await reconcile(w);
    assert.unreachable("did not fail");
  } catch (error) {
    assert.match(String(error), /ECONNREFUSED/);
  }
  assert.equal(w.ipam.pools().length, 1);
});

test.run();

const background = suite("startDockerReconcile");

background("retries while Docker does not answer, then reconciles once", async () => {
  const w = await world();
  const network = await w.createNetwork("10.62.0.0/24");
  w.docker.networks.delete(network.id);
  w.docker.fail(2);
  const running = startDockerReconcile({
    docker: w.docker,
    pluginName: PLUGIN,
    store: w.bridge.store,
    networkDriver: w.bridge.driver,
    ipam: w.ipam,
    activity: w.activity,
    graceMs: 0,
    maxRetryMs: 20,
  });
  const started = Date.now();
  const summary = await running.done;
  assert.ok(summary !== undefined);
  assert.equal(summary.released.networks, [network.id]);
  assert.equal(running.last, summary);
  assert.ok(Date.now() - started >= 1_000, "waited before the first retry");
  await running.stop();
});

background("stop() ends the retries and resolves done with undefined", async () => {
  const w = await world();
  w.docker.fail(1_000);
  const running = startDockerReconcile({
    docker: w.docker,
    pluginName: PLUGIN,
    store: w.bridge.store,
    activity: w.activity,
  });
  await new Promise((resolve) => setTimeout(resolve, 20));
  await running.stop();
  assert.equal(await running.done, undefined);
  assert.equal(w.docker.calls.length, 1);
});

background.run();

const again = suite("startDockerReconcile: request()");

again(
  "runs again on request (coalescing requests made during a run), e.g. when dockerd activates the plugin again",
  async () => {
    const w = await world();
    const running = startDockerReconcile({
      docker: w.docker,
      pluginName: PLUGIN,
      store: w.bridge.store,
      networkDriver: w.bridge.driver,
      ipam: w.ipam,
      activity: w.activity,
      graceMs: 0,
    });
    const first = await running.done;
    assert.ok(first !== undefined);
    assert.equal(first.released.networks, []);
    // A dockerd crash: Docker forgets a network without telling the plugin, then activates the plugin again.
    const network = await w.createNetwork("10.64.0.0/24");
    w.docker.networks.delete(network.id);
    const tracked = trackNetworkDriver(w.bridge.driver, w.activity, { onCapabilities: () => running.request() });
    tracked.getCapabilities();
    tracked.getCapabilities();
    for (let i = 0; i < 100 && running.last === first; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(running.last?.released.networks, [network.id]);
    const lists = w.docker.calls.filter((call) => call === "list").length;
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.is(w.docker.calls.filter((call) => call === "list").length, lists, "no run without a request");
    await running.stop();
  },
);

again.run();

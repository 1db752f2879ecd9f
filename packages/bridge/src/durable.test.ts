import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryHost } from "@tsnet/kernel/testing";
import { openLmdbStore } from "@tsnet/store";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { peerVethName } from "./names.js";
import {
  callContext,
  createMemoryBridge,
  endpointOptions,
  endpointRequest,
  networkRequest,
  portBinding,
} from "./testing.js";

const durable = suite("with the durable LmdbStore");

durable("records survive a restart: reconcile finds everything in place, and calls answer as before", async () => {
  const directory = await mkdtemp(join(tmpdir(), "tsnet-bridge-"));
  try {
    const host = new MemoryHost();
    const network = networkRequest({
      generic: { "com.docker.network.driver.mtu": "1400", "com.docker.network.bridge.enable_icc": "false" },
      ipv6Data: [{ AddressSpace: "LocalDefault", Pool: "fd00:99::/64", Gateway: "fd00:99::1/64", AuxAddresses: {} }],
    });
    const endpoint = endpointRequest(network.NetworkID, { AddressIPv6: "fd00:99::2/64" });
    let store = await openLmdbStore({ directory });
    const first = await createMemoryBridge({ host, store });
    await first.driver.createNetwork(network, callContext());
    const created = await first.driver.createEndpoint(endpoint, callContext());
    await first.driver.programExternalConnectivity(
      { ...endpoint, Options: endpointOptions([portBinding(80, 8080)]) },
      callContext(),
    );
    const before = first.firewall.state;
    await first.driver.close();
    await store.close();

    store = await openLmdbStore({ directory });
    const second = await createMemoryBridge({ host, store });
    assert.equal(second.driver.lastReconcile?.recreated, []);
    assert.equal(second.driver.lastReconcile?.removed, []);
    assert.equal(second.firewall.state, before);
    assert.equal(await second.driver.createEndpoint(endpoint, callContext()), created);
    const joined = await second.driver.join({ ...endpoint, SandboxKey: "", Options: endpointOptions() }, callContext());
    assert.equal(joined, {
      InterfaceName: { SrcName: peerVethName(endpoint.EndpointID), DstPrefix: "eth" },
      Gateway: "10.99.0.1",
      GatewayIPv6: "fd00:99::1",
    });
    await second.driver.createNetwork(structuredClone(network), callContext());
    await second.driver.deleteEndpoint(endpoint, callContext());
    await second.driver.deleteNetwork({ NetworkID: network.NetworkID }, callContext());
    await second.driver.close();
    assert.equal(store.list(""), []);
    await store.close();
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
});

durable.run();

import { MemoryHost } from "@tsnet/kernel/testing";
import { TsnetError } from "@tsnet/protocol";
import { FailingStore, MemoryStore } from "@tsnet/store/testing";
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { hostVethName, peerVethName } from "./names.js";
import type { EndpointRecord } from "./records.js";
import {
  callContext,
  createMemoryBridge,
  endpointOptions,
  endpointRequest,
  networkRequest,
  portBinding,
} from "./testing.js";

const property = suite("driver invariants");

const step = fc.record({
  op: fc.constantFrom("create", "delete", "program", "revoke", "join"),
  endpoint: fc.integer({ min: 0, max: 5 }),
  port: fc.constantFrom(0, 8080, 8081),
  fail: fc.constantFrom("none", "none", "addVethPair", "store", "firewall"),
});

property("whatever calls and failures come, the kernel, firewall and store agree once drained", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(step, { maxLength: 30 }), async (steps) => {
      const host = new MemoryHost();
      const store = new FailingStore(new MemoryStore());
      const memory = await createMemoryBridge({ host, store });
      const { driver, firewall } = memory;
      const network = networkRequest();
      await driver.createNetwork(network, callContext());
      const ids = Array.from({ length: 6 }, (_, i) =>
        endpointRequest(network.NetworkID, { Address: `10.99.0.${i + 2}/24` }),
      );
      for (const { op, endpoint, port, fail } of steps) {
        const request = ids[endpoint] as (typeof ids)[0];
        if (fail === "addVethPair")
          host.root.links.failOn("addVethPair", new TsnetError("UNAVAILABLE", "x"), { times: 1 });
        if (fail === "store") store.failWhen(() => true);
        if (fail === "firewall") firewall.failOn("apply", new TsnetError("UNAVAILABLE", "x"), { times: 1 });
        const options = endpointOptions([portBinding(80, port, { HostPortEnd: port })]);
        const calls = {
          create: () => driver.createEndpoint(request, callContext()),
          delete: () => driver.deleteEndpoint(request, callContext()),
          program: () => driver.programExternalConnectivity({ ...request, Options: options }, callContext()),
          revoke: () => driver.revokeExternalConnectivity(request, callContext()),
          join: () => driver.join({ ...request, SandboxKey: "", Options: options }, callContext()),
        };
        await Promise.resolve(calls[op]()).catch(() => {});
        host.root.links.clearFailures();
        firewall.clearFailures();
        store.failWhen(undefined);
      }
      // One more successful apply settles any state a failed apply left behind.
      const settle = networkRequest({
        ipv4Data: [{ AddressSpace: "x", Pool: "10.98.0.0/24", Gateway: "10.98.0.1/24", AuxAddresses: {} }],
      });
      await driver.createNetwork(settle, callContext());
      await driver.drain();
      const records = store.list<EndpointRecord>("bridge/endpoints/").map(([, record]) => record);
      const links = new Set(host.root.links.snapshot().map((link) => link.name));
      const expected = new Set(records.flatMap((record) => [record.hostVeth, record.peerVeth]));
      for (const id of ids) {
        const owned = expected.has(hostVethName(id.EndpointID));
        assert.is(links.has(hostVethName(id.EndpointID)), owned, `host veth of ${id.EndpointID.slice(0, 6)}`);
        assert.is(links.has(peerVethName(id.EndpointID)), owned, `peer veth of ${id.EndpointID.slice(0, 6)}`);
      }
      const published =
        firewall.network(network.NetworkID)?.publishes.map((p) => `${p.containerIp}:${p.hostPort}`) ?? [];
      const recorded = records.flatMap((record) =>
        record.published.map((p) => `${record.address.split("/")[0]}:${p.hostPort}`),
      );
      assert.equal([...published].sort(), [...recorded].sort());
      const hostPorts = recorded.map((entry) => entry.split(":")[1]);
      assert.is(new Set(hostPorts).size, hostPorts.length, "no host port twice");
    }),
    { numRuns: Number(process.env.PROPERTY_RUNS ?? 300) },
  );
});

property.run();

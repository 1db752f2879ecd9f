import { TsnetError } from "@tsnet/protocol";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { EndpointRecord } from "./records.js";
import {
  assertRejects,
  callContext,
  createMemoryBridge,
  endpointOptions,
  endpointRequest,
  type MemoryBridge,
  type NetworkRequestOptions,
  networkRequest,
  portBinding,
  randomId,
  rejectsWith,
} from "./testing.js";

async function withEndpoint(options: NetworkRequestOptions = {}, memory?: MemoryBridge, address = "10.99.0.2/24") {
  const bridge = memory ?? (await createMemoryBridge());
  const network = networkRequest(options);
  await bridge.driver.createNetwork(network, callContext());
  const endpoint = endpointRequest(network.NetworkID, { Address: address });
  await bridge.driver.createEndpoint(endpoint, callContext());
  return { ...bridge, networkId: network.NetworkID, endpoint };
}

async function addEndpoint(memory: MemoryBridge, networkId: string, address: string) {
  const endpoint = endpointRequest(networkId, { Address: address });
  await memory.driver.createEndpoint(endpoint, callContext());
  return endpoint;
}

const program = suite("programExternalConnectivity");

program("-p 8080:80 publishes host port 8080 on every address to the container's IPv4 address", async () => {
  const { driver, firewall, networkId, endpoint } = await withEndpoint();
  const options = endpointOptions([portBinding(80, 8080)], [{ Proto: 6, Port: 80 }]);
  await driver.programExternalConnectivity({ ...endpoint, Options: options }, callContext());
  assert.equal(firewall.network(networkId)?.publishes, [
    { proto: "tcp", hostIp: "", hostPort: 8080, containerIp: "10.99.0.2", containerPort: 80 },
  ]);
  const info = await driver.endpointOperInfo(endpoint, callContext());
  assert.equal(info.Value["com.docker.network.portmap"], [
    { Proto: 6, IP: "10.99.0.2", Port: 80, HostIP: "", HostPort: 8080, HostPortEnd: 8080 },
  ]);
  assert.equal(info.Value["com.docker.network.endpoint.exposedports"], [{ Proto: 6, Port: 80 }]);
});

program("-p 127.0.0.1:9090:90/udp keeps the host address and the protocol", async () => {
  const { driver, firewall, networkId, endpoint } = await withEndpoint();
  const options = endpointOptions([portBinding(90, 9090, { Proto: 17, HostIP: "127.0.0.1" })]);
  await driver.programExternalConnectivity({ ...endpoint, Options: options }, callContext());
  assert.equal(firewall.network(networkId)?.publishes, [
    { proto: "udp", hostIp: "127.0.0.1", hostPort: 9090, containerIp: "10.99.0.2", containerPort: 90 },
  ]);
});

program("host_binding_ipv4 is the host address of bindings that name none", async () => {
  const { driver, firewall, networkId, endpoint } = await withEndpoint({
    generic: { "com.docker.network.bridge.host_binding_ipv4": "127.0.0.1" },
  });
  await driver.programExternalConnectivity(
    { ...endpoint, Options: endpointOptions([portBinding(80, 8081)]) },
    callContext(),
  );
  assert.is(firewall.network(networkId)?.publishes[0]?.hostIp, "127.0.0.1");
});

program("with IPv6 a wildcard binding publishes to both container addresses", async () => {
  const memory = await createMemoryBridge();
  const network = networkRequest({
    ipv6Data: [{ AddressSpace: "LocalDefault", Pool: "fd00:99::/64", Gateway: "fd00:99::1/64", AuxAddresses: {} }],
  });
  await memory.driver.createNetwork(network, callContext());
  const endpoint = endpointRequest(network.NetworkID, { AddressIPv6: "fd00:99::2/64" });
  await memory.driver.createEndpoint(endpoint, callContext());
  await memory.driver.programExternalConnectivity(
    { ...endpoint, Options: endpointOptions([portBinding(80, 8082)]) },
    callContext(),
  );
  assert.equal(
    memory.firewall.network(network.NetworkID)?.publishes.map((p) => p.containerIp),
    ["10.99.0.2", "fd00:99::2"],
  );
});

program("a range takes its first free port; -P takes ports from 49153 on, round robin", async () => {
  const memory = await createMemoryBridge();
  const { driver, networkId, endpoint } = await withEndpoint({}, memory);
  const other = await addEndpoint(memory, networkId, "10.99.0.3/24");
  await driver.programExternalConnectivity(
    {
      ...endpoint,
      Options: endpointOptions([portBinding(80, 8000, { HostPortEnd: 8010 }), portBinding(81, 0, { HostPortEnd: 0 })]),
    },
    callContext(),
  );
  await driver.programExternalConnectivity(
    {
      ...other,
      Options: endpointOptions([portBinding(80, 8000, { HostPortEnd: 8010 }), portBinding(81, 0, { HostPortEnd: 0 })]),
    },
    callContext(),
  );
  const ports = async (e: typeof endpoint) =>
    (
      (await driver.endpointOperInfo(e, callContext())).Value["com.docker.network.portmap"] as Array<{
        HostPort: number;
      }>
    ).map((p) => p.HostPort);
  assert.equal(await ports(endpoint), [8000, 49153]);
  assert.equal(await ports(other), [8001, 49154]);
});

program("-P skips ports the host holds (the probe says in use)", async () => {
  const busy = new Set([49153, 49154]);
  const memory = await createMemoryBridge({ hostPorts: { probe: async (_proto, _ip, port) => !busy.has(port) } });
  const { driver, firewall, networkId, endpoint } = await withEndpoint({}, memory);
  await driver.programExternalConnectivity(
    { ...endpoint, Options: endpointOptions([portBinding(80, 0, { HostPortEnd: 0 })]) },
    callContext(),
  );
  assert.is(firewall.network(networkId)?.publishes[0]?.hostPort, 49155);
});

program("a host port another endpoint publishes is CONFLICT naming the port, and nothing changes", async () => {
  const memory = await createMemoryBridge();
  const { driver, firewall, store, networkId, endpoint } = await withEndpoint({}, memory);
  const other = await addEndpoint(memory, networkId, "10.99.0.3/24");
  await driver.programExternalConnectivity(
    { ...endpoint, Options: endpointOptions([portBinding(80, 8080)]) },
    callContext(),
  );
  const before = firewall.state;
  const records = store.list("");
  await assertRejects(
    driver.programExternalConnectivity(
      { ...other, Options: endpointOptions([portBinding(81, 8081), portBinding(80, 8080, { HostIP: "127.0.0.1" })]) },
      callContext(),
    ),
    rejectsWith("CONFLICT", /8080\/tcp/),
    "collision",
  );
  assert.equal(firewall.state, before);
  assert.equal(store.list(""), records);
  // 8081 was let go with the failed call: another endpoint can take it.
  await driver.programExternalConnectivity(
    { ...other, Options: endpointOptions([portBinding(81, 8081)]) },
    callContext(),
  );
});

program("the same host port on different addresses or protocols does not collide", async () => {
  const memory = await createMemoryBridge();
  const { driver, networkId, endpoint } = await withEndpoint({}, memory);
  const other = await addEndpoint(memory, networkId, "10.99.0.3/24");
  const third = await addEndpoint(memory, networkId, "10.99.0.4/24");
  await driver.programExternalConnectivity(
    { ...endpoint, Options: endpointOptions([portBinding(80, 8080, { HostIP: "127.0.0.1" })]) },
    callContext(),
  );
  await driver.programExternalConnectivity(
    { ...other, Options: endpointOptions([portBinding(80, 8080, { HostIP: "127.0.0.2" })]) },
    callContext(),
  );
  await driver.programExternalConnectivity(
    { ...third, Options: endpointOptions([portBinding(80, 8080, { Proto: 17 })]) },
    callContext(),
  );
});

program("a host port the host holds is CONFLICT", async () => {
  const memory = await createMemoryBridge({ hostPorts: { probe: async () => false } });
  const { driver, endpoint } = await withEndpoint({}, memory);
  await assertRejects(
    driver.programExternalConnectivity(
      { ...endpoint, Options: endpointOptions([portBinding(80, 8080)]) },
      callContext(),
    ),
    rejectsWith("CONFLICT", /8080\/tcp is already in use on the host/),
    "host",
  );
});

program("malformed bindings are INVALID_ARGUMENT naming the binding", async () => {
  const { driver, endpoint } = await withEndpoint();
  for (const binding of [
    portBinding(80, 8080, { HostIP: "not-an-ip" }),
    portBinding(0, 8080),
    portBinding(80, 8080, { HostPortEnd: 8000 }),
    portBinding(80, 70000),
    portBinding(80, 8080, { HostIP: "::1" }),
  ]) {
    await assertRejects(
      driver.programExternalConnectivity({ ...endpoint, Options: endpointOptions([binding]) }, callContext()),
      rejectsWith("INVALID_ARGUMENT", /port binding/),
      JSON.stringify(binding),
    );
  }
});

program("a replay does nothing; new bindings replace the old ones", async () => {
  const { driver, firewall, networkId, endpoint } = await withEndpoint();
  const request = { ...endpoint, Options: endpointOptions([portBinding(80, 8080)]) };
  await driver.programExternalConnectivity(request, callContext());
  const applies = firewall.applies;
  await driver.programExternalConnectivity(structuredClone(request), callContext());
  assert.is(firewall.applies, applies);
  await driver.programExternalConnectivity(
    { ...endpoint, Options: endpointOptions([portBinding(80, 9000)]) },
    callContext(),
  );
  assert.equal(
    firewall.network(networkId)?.publishes.map((p) => p.hostPort),
    [9000],
  );
});

program("a failed firewall apply leaves the ports free and unrecorded", async () => {
  const memory = await createMemoryBridge();
  const { driver, firewall, store, networkId, endpoint } = await withEndpoint({}, memory);
  firewall.failOn("apply", new TsnetError("UNAVAILABLE", "injected"), { times: 1 });
  await assertRejects(
    driver.programExternalConnectivity(
      { ...endpoint, Options: endpointOptions([portBinding(80, 8080)]) },
      callContext(),
    ),
    rejectsWith("UNAVAILABLE"),
    "apply",
  );
  assert.equal(firewall.network(networkId)?.publishes, []);
  const [, record] = store.list<EndpointRecord>("bridge/endpoints/")[0] ?? [];
  assert.equal(record?.published, []);
  const other = await addEndpoint(memory, networkId, "10.99.0.3/24");
  await driver.programExternalConnectivity(
    { ...other, Options: endpointOptions([portBinding(80, 8080)]) },
    callContext(),
  );
});

program("internal networks publish nothing", async () => {
  const { driver, firewall, networkId, endpoint } = await withEndpoint({ internal: true });
  await driver.programExternalConnectivity(
    { ...endpoint, Options: endpointOptions([portBinding(80, 8080)]) },
    callContext(),
  );
  assert.equal(firewall.network(networkId)?.publishes, []);
});

program("an unknown endpoint is NOT_FOUND", async () => {
  const { driver, networkId } = await withEndpoint();
  await assertRejects(
    driver.programExternalConnectivity(
      { NetworkID: networkId, EndpointID: randomId(), Options: endpointOptions() },
      callContext(),
    ),
    rejectsWith("NOT_FOUND"),
    "unknown",
  );
});

program.run();

const revoke = suite("revokeExternalConnectivity");

revoke("withdraws the ports and frees them for another endpoint", async () => {
  const memory = await createMemoryBridge();
  const { driver, firewall, networkId, endpoint } = await withEndpoint({}, memory);
  await driver.programExternalConnectivity(
    { ...endpoint, Options: endpointOptions([portBinding(80, 8080)]) },
    callContext(),
  );
  await driver.revokeExternalConnectivity(endpoint, callContext());
  assert.equal(firewall.network(networkId)?.publishes, []);
  assert.is((await driver.endpointOperInfo(endpoint, callContext())).Value["com.docker.network.portmap"], undefined);
  const other = await addEndpoint(memory, networkId, "10.99.0.3/24");
  await driver.programExternalConnectivity(
    { ...other, Options: endpointOptions([portBinding(80, 8080)]) },
    callContext(),
  );
});

revoke("succeeds without a prior Program, for unknown ids, and twice", async () => {
  const { driver, endpoint } = await withEndpoint();
  await driver.revokeExternalConnectivity(endpoint, callContext());
  await driver.revokeExternalConnectivity(endpoint, callContext());
  await driver.revokeExternalConnectivity({ NetworkID: randomId(), EndpointID: randomId() }, callContext());
});

revoke("DeleteEndpoint without Revoke (crash cleanup) withdraws the ports", async () => {
  const { driver, firewall, networkId, endpoint } = await withEndpoint();
  await driver.programExternalConnectivity(
    { ...endpoint, Options: endpointOptions([portBinding(80, 8080)]) },
    callContext(),
  );
  await driver.deleteEndpoint(endpoint, callContext());
  assert.equal(firewall.network(networkId)?.publishes, []);
});

revoke.run();

import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ACTIVATE_PATH, IPAM_DRIVER_CALLS, NETWORK_DRIVER_CALLS } from "./calls.js";
import type { NetworkDriver } from "./driver.js";
import { isTsnetError } from "./error.js";
import { NETWORK_DRIVER_FIXTURES } from "./testing.js";

const context = { signal: new AbortController().signal };
const calls = suite("call tables");

const minimal: NetworkDriver = {
  getCapabilities: () => ({ Scope: "local", ConnectivityScope: "local" }),
  createNetwork: async () => {},
  deleteNetwork: async () => {},
  createEndpoint: async () => ({}),
  deleteEndpoint: async () => {},
  endpointOperInfo: async (request) => ({ Value: { id: request.EndpointID } }),
  join: async () => ({ InterfaceName: { SrcName: "tsve-1", DstPrefix: "eth" } }),
  leave: async () => {},
};

calls("list every call Docker sends, under its URL path", () => {
  assert.equal(Object.keys(NETWORK_DRIVER_CALLS).sort(), [
    "AllocateNetwork",
    "CreateEndpoint",
    "CreateNetwork",
    "DeleteEndpoint",
    "DeleteNetwork",
    "DiscoverDelete",
    "DiscoverNew",
    "EndpointOperInfo",
    "FreeNetwork",
    "GetCapabilities",
    "Join",
    "Leave",
    "ProgramExternalConnectivity",
    "RevokeExternalConnectivity",
  ]);
  assert.equal(Object.keys(IPAM_DRIVER_CALLS).sort(), [
    "GetCapabilities",
    "GetDefaultAddressSpaces",
    "ReleaseAddress",
    "ReleasePool",
    "RequestAddress",
    "RequestPool",
  ]);
  assert.is(NETWORK_DRIVER_CALLS.Join.path, "/NetworkDriver.Join");
  assert.is(IPAM_DRIVER_CALLS.RequestPool.path, "/IpamDriver.RequestPool");
  assert.is(ACTIVATE_PATH, "/Plugin.Activate");
});

calls("void driver methods answer {}, others pass the reply through", async () => {
  const created = await NETWORK_DRIVER_CALLS.CreateNetwork.handle(
    minimal,
    NETWORK_DRIVER_FIXTURES.CreateNetwork,
    context,
  );
  assert.equal(created.response, {});
  const info = await NETWORK_DRIVER_CALLS.EndpointOperInfo.handle(
    minimal,
    NETWORK_DRIVER_FIXTURES.EndpointOperInfo,
    context,
  );
  assert.is(info.request?.NetworkID, (NETWORK_DRIVER_FIXTURES.EndpointOperInfo as { NetworkID: string }).NetworkID);
  assert.ok(info.response.Value.id);
});

calls(
  "absent Discover* answer {}; absent Program/Revoke/Allocate/Free are NOT_FOUND, even with an empty body",
  async () => {
    assert.equal((await NETWORK_DRIVER_CALLS.DiscoverNew.handle(minimal, undefined, context)).response, {});
    assert.equal((await NETWORK_DRIVER_CALLS.DiscoverDelete.handle(minimal, undefined, context)).response, {});
    for (const call of [
      NETWORK_DRIVER_CALLS.ProgramExternalConnectivity,
      NETWORK_DRIVER_CALLS.RevokeExternalConnectivity,
      NETWORK_DRIVER_CALLS.AllocateNetwork,
      NETWORK_DRIVER_CALLS.FreeNetwork,
    ]) {
      try {
        await call.handle(minimal, undefined, context);
        assert.unreachable(call.path);
      } catch (error) {
        assert.ok(isTsnetError(error) && error.code === "NOT_FOUND", String(error));
      }
    }
  },
);

calls("optional methods are called with the driver as this", async () => {
  let programmed = "";
  const driver: NetworkDriver = {
    ...minimal,
    marker: "me",
    async programExternalConnectivity(request) {
      programmed = `${(this as unknown as { marker: string }).marker}:${request.EndpointID.slice(0, 4)}`;
    },
  } as NetworkDriver;
  const result = await NETWORK_DRIVER_CALLS.ProgramExternalConnectivity.handle(
    driver,
    NETWORK_DRIVER_FIXTURES.ProgramExternalConnectivity,
    context,
  );
  assert.equal(result.response, {});
  assert.is(programmed, "me:babc");
});
calls.run();

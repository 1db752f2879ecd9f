import { IPAM_DRIVER_CALLS, NETWORK_DRIVER_CALLS, TsnetError } from "@tsnet/protocol";
import { IPAM_DRIVER_FIXTURES, NETWORK_DRIVER_FIXTURES } from "@tsnet/protocol/testing";
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { PluginDispatcher } from "./dispatch.js";
import { createCountingIpamDriver, createRecordingNetworkDriver } from "./testing.js";

const PATHS = [
  ...Object.values(NETWORK_DRIVER_CALLS).map((call) => call.path),
  ...Object.values(IPAM_DRIVER_CALLS).map((call) => call.path),
  "/Plugin.Activate",
  "/NetworkDriver.Nope",
];
const FIXTURES: unknown[] = [...Object.values(NETWORK_DRIVER_FIXTURES), ...Object.values(IPAM_DRIVER_FIXTURES)];
const signal = (): AbortSignal => new AbortController().signal;

const test = suite("PluginDispatcher");

test("any body on any path gets JSON with Err and Error, or a 200 — never a 500 from the server itself", async () => {
  const dispatcher = new PluginDispatcher({
    networkDriver: createRecordingNetworkDriver(),
    ipamDriver: createCountingIpamDriver(),
  });
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...PATHS),
      fc.oneof(
        fc.jsonValue().map((value) => JSON.stringify(value)),
        fc.constantFrom(...FIXTURES).map((value) => (value === undefined ? "" : JSON.stringify(value))),
        fc.string(),
      ),
      async (path, text) => {
        const reply = await dispatcher.dispatch("POST", path, async () => text, signal);
        const body = JSON.parse(reply.body) as Record<string, unknown>;
        if (reply.status === 200) return;
        assert.ok([400, 404].includes(reply.status), `${path} ${text}: ${reply.status} ${reply.body}`);
        assert.type(body.Err, "string");
        assert.is(body.Err, body.Error);
      },
    ),
    { numRuns: 1500 },
  );
});

test("every fixture on its own path answers 200 (or Docker's tolerated 404 for absent optional methods)", async () => {
  const dispatcher = new PluginDispatcher({
    networkDriver: createRecordingNetworkDriver(),
    ipamDriver: createCountingIpamDriver(),
  });
  for (const [method, fixture] of Object.entries(NETWORK_DRIVER_FIXTURES)) {
    const text = fixture === undefined ? "" : JSON.stringify(fixture);
    const reply = await dispatcher.dispatch("POST", `/NetworkDriver.${method}`, async () => text, signal);
    const optional = ["AllocateNetwork", "FreeNetwork", "ProgramExternalConnectivity", "RevokeExternalConnectivity"];
    assert.is(reply.status, optional.includes(method) ? 404 : 200, method);
  }
});
test("onRequest sees each answered call with its status, and a throwing hook changes no reply", async () => {
  const seen: Array<[string, number]> = [];
  const dispatcher = new PluginDispatcher({
    ipamDriver: createCountingIpamDriver(),
    onRequest: (call, status, durationMs) => {
      assert.ok(durationMs >= 0);
      seen.push([call, status]);
      throw new Error("hook failure");
    },
  });
  const ok = await dispatcher.dispatch("POST", "/IpamDriver.GetCapabilities", async () => "", signal);
  const bad = await dispatcher.dispatch("POST", "/IpamDriver.RequestPool", async () => "{", signal);
  assert.is(ok.status, 200);
  assert.is(bad.status, 400);
  assert.equal(seen, [], "the hook runs after the reply is handed back, not before");
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(seen, [
    ["IpamDriver.GetCapabilities", 200],
    ["IpamDriver.RequestPool", 400],
  ]);
});
test("a driver that answers directly gets its reply back directly; a throw or a rejection answers alike", async () => {
  const join = NETWORK_DRIVER_FIXTURES.Join;
  const networkDriver = {
    ...createRecordingNetworkDriver(),
    join: () => ({ InterfaceName: { SrcName: "veth0", DstPrefix: "eth" } }),
    leave: () => {
      throw new TsnetError("NOT_FOUND", "endpoint gone");
    },
    deleteEndpoint: () => Promise.reject(new TsnetError("NOT_FOUND", "endpoint gone")),
  };
  const dispatcher = new PluginDispatcher({ networkDriver });
  const text = JSON.stringify(join);
  const direct = dispatcher.dispatch("POST", "/NetworkDriver.Join", () => text, signal);
  assert.not.instance(direct, Promise, "no promise when the body was at hand and the driver answered directly");
  assert.equal(direct, { status: 200, body: '{"InterfaceName":{"SrcName":"veth0","DstPrefix":"eth"}}' });
  assert.instance(
    dispatcher.dispatch("POST", "/NetworkDriver.Join", async () => text, signal),
    Promise,
    "a body still to be read",
  );
  const ref = JSON.stringify(NETWORK_DRIVER_FIXTURES.Leave);
  const thrown = dispatcher.dispatch("POST", "/NetworkDriver.Leave", () => ref, signal);
  const rejected = await dispatcher.dispatch("POST", "/NetworkDriver.DeleteEndpoint", () => ref, signal);
  assert.equal(thrown, rejected);
  assert.is(rejected.status, 404);
});
test.run();

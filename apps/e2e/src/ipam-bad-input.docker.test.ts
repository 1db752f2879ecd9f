// Bad input at the daemon level (issue 4, "Bad input"): malformed IpamDriver requests sent over the real daemon's
// socket get a 4xx with {"Err","Error"} naming the field and value; the daemon keeps serving and its state does not
// change (the next allocation is the one it would have been, held addresses stay held, refused pools stay free).
// Needs root (the daemon opens the host's netlink and nftables) but no dockerd.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { cleanup, fixture, type RunningDaemon, startDaemon } from "./harness.js";
import { closeIpamConnections, errorText, type IpamReply, ipamCall, poolRequest, SOCKET_ONLY } from "./ipam-helpers.js";

const POOL = "10.88.0.0/24";
const POOL_ID = `LocalDefault/${POOL}`;

const bad = suite("IPAM bad input through the daemon");
const running = fixture<RunningDaemon>(async () => {
  const daemon = await startDaemon(SOCKET_ONLY);
  const pool = await ipamCall(daemon.socketPath, "RequestPool", poolRequest({ Pool: POOL }));
  if (pool.status !== 200 || pool.body.PoolID !== POOL_ID) throw new Error(`RequestPool: ${pool.status} ${pool.text}`);
  // Gateway .1, then .2 and .3; .2 released again, so the next lowest free address is .2.
  for (const options of [{ RequestAddressType: "com.docker.network.gateway" }, {}, {}]) {
    const reply = await ipamCall(daemon.socketPath, "RequestAddress", {
      PoolID: POOL_ID,
      Address: "",
      Options: options,
    });
    if (reply.status !== 200) throw new Error(`RequestAddress: ${reply.status} ${reply.text}`);
  }
  const released = await ipamCall(daemon.socketPath, "ReleaseAddress", { PoolID: POOL_ID, Address: "10.88.0.2" });
  if (released.status !== 200) throw new Error(`ReleaseAddress: ${released.status} ${released.text}`);
  return daemon;
});
bad.before(running.setup);
bad.after(async () => {
  closeIpamConnections();
  await cleanup();
});

/** Asserts a 4xx failure whose `Err` and `Error` are the same message and mention every one of `mentions`. */
function assertRefused(reply: IpamReply, status: number, mentions: readonly string[]): void {
  assert.is(reply.status, status, `status of ${reply.text}`);
  assert.type(reply.body.Err, "string", `Err in ${reply.text}`);
  assert.is(reply.body.Err, reply.body.Error, `Err and Error agree in ${reply.text}`);
  for (const mention of mentions) {
    assert.ok(errorText(reply).includes(mention), `"${errorText(reply)}" mentions ${mention}`);
  }
}

type Case = [call: string, body: unknown, status: number, mentions: readonly string[]];

const cases: Record<string, Case> = {
  "RequestPool: a /33": ["RequestPool", poolRequest({ Pool: "10.61.0.0/33" }), 400, ["Pool", "10.61.0.0/33"]],
  "RequestPool: not a CIDR": ["RequestPool", poolRequest({ Pool: "10.61.0.0" }), 400, ["Pool", "10.61.0.0"]],
  "RequestPool: an IPv6 /129": ["RequestPool", poolRequest({ Pool: "fd61::/129", V6: true }), 400, ["fd61::/129"]],
  "RequestPool: SubPool outside Pool": [
    "RequestPool",
    poolRequest({ Pool: "10.62.0.0/24", SubPool: "10.63.0.0/25" }),
    400,
    ["SubPool", "10.63.0.0/25", "10.62.0.0/24"],
  ],
  "RequestPool: SubPool wider than Pool": [
    "RequestPool",
    poolRequest({ Pool: "10.62.0.0/24", SubPool: "10.62.0.0/23" }),
    400,
    ["SubPool", "10.62.0.0/23"],
  ],
  "RequestPool: SubPool without Pool": [
    "RequestPool",
    poolRequest({ SubPool: "10.62.0.0/25" }),
    400,
    ["SubPool", "10.62.0.0/25"],
  ],
  "RequestPool: an IPv4 Pool with V6 true": [
    "RequestPool",
    poolRequest({ Pool: "10.64.0.0/24", V6: true }),
    400,
    ["10.64.0.0/24"],
  ],
  "RequestPool: an unknown AddressSpace": [
    "RequestPool",
    poolRequest({ Pool: "10.65.0.0/24", AddressSpace: "Nowhere" }),
    400,
    ["AddressSpace", "Nowhere"],
  ],
  "RequestPool: overlapping a held pool": [
    "RequestPool",
    poolRequest({ Pool: "10.88.0.128/25" }),
    409,
    ["10.88.0.128/25", POOL],
  ],
  "RequestAddress: a malformed PoolID": [
    "RequestAddress",
    { PoolID: "not a pool", Address: "", Options: {} },
    400,
    ["PoolID", "not a pool"],
  ],
  "RequestAddress: a PoolID with a bad CIDR": [
    "RequestAddress",
    { PoolID: "LocalDefault/10.88.0.0/40", Address: "", Options: {} },
    400,
    ["PoolID", "10.88.0.0/40"],
  ],
  "RequestAddress: an unknown PoolID": [
    "RequestAddress",
    { PoolID: "LocalDefault/10.66.0.0/24", Address: "", Options: {} },
    404,
    ["PoolID", "10.66.0.0/24"],
  ],
  "RequestAddress: a malformed Address": [
    "RequestAddress",
    { PoolID: POOL_ID, Address: "10.88.0.300", Options: {} },
    400,
    ["Address", "10.88.0.300"],
  ],
  "RequestAddress: an Address with a prefix": [
    "RequestAddress",
    { PoolID: POOL_ID, Address: "10.88.0.9/24", Options: {} },
    400,
    ["Address", "10.88.0.9/24"],
  ],
  "RequestAddress: an Address outside the pool": [
    "RequestAddress",
    { PoolID: POOL_ID, Address: "10.89.0.9", Options: {} },
    400,
    ["10.89.0.9", POOL],
  ],
  "RequestAddress: the network address": [
    "RequestAddress",
    { PoolID: POOL_ID, Address: "10.88.0.0", Options: {} },
    400,
    ["10.88.0.0"],
  ],
  "RequestAddress: the broadcast address": [
    "RequestAddress",
    { PoolID: POOL_ID, Address: "10.88.0.255", Options: {} },
    400,
    ["10.88.0.255"],
  ],
  "RequestAddress: an IPv6 Address in an IPv4 pool": [
    "RequestAddress",
    { PoolID: POOL_ID, Address: "fd00::5", Options: {} },
    400,
    ["fd00::5"],
  ],
  "RequestAddress: an Address that is a number": [
    "RequestAddress",
    { PoolID: POOL_ID, Address: 5, Options: {} },
    400,
    ["Address"],
  ],
  "RequestAddress: a taken Address": [
    "RequestAddress",
    { PoolID: POOL_ID, Address: "10.88.0.3", Options: {} },
    409,
    ["10.88.0.3"],
  ],
  "ReleaseAddress: a malformed Address": [
    "ReleaseAddress",
    { PoolID: POOL_ID, Address: "10.88.0.x" },
    400,
    ["Address", "10.88.0.x"],
  ],
  "ReleaseAddress: a malformed PoolID": [
    "ReleaseAddress",
    { PoolID: "LocalDefault/banana", Address: "10.88.0.3" },
    400,
    ["PoolID", "banana"],
  ],
  "ReleasePool: a malformed PoolID": ["ReleasePool", { PoolID: "LocalDefault/10.88.0.0/99" }, 400, ["PoolID"]],
  "RequestPool: a body that is not JSON": ["RequestPool", "{not json", 400, []],
  "RequestPool: a JSON array": ["RequestPool", "[]", 400, []],
  "RequestAddress: Options that is a string": [
    "RequestAddress",
    { PoolID: POOL_ID, Address: "", Options: "serial" },
    400,
    ["Options"],
  ],
};

for (const [name, [call, body, status, mentions]] of Object.entries(cases)) {
  bad(name, async () => {
    const { socketPath } = running.get();
    assertRefused(await ipamCall(socketPath, call, body), status, mentions);
  });
}

bad("the daemon still serves and its state is unchanged after all of the above", async () => {
  const daemon = running.get();
  const activate = await ipamCall(daemon.socketPath, "Plugin.Activate", "");
  assert.is(activate.status, 200, activate.text);
  // The held addresses are still held, and the next allocation is the one it was before: .2 (lowest free).
  for (const address of ["10.88.0.1", "10.88.0.3"]) {
    const again = await ipamCall(daemon.socketPath, "RequestAddress", {
      PoolID: POOL_ID,
      Address: address,
      Options: {},
    });
    assert.is(again.status, 409, `${address} is still held: ${again.text}`);
  }
  const next = await ipamCall(daemon.socketPath, "RequestAddress", { PoolID: POOL_ID, Address: "", Options: {} });
  assert.is(next.body.Address, "10.88.0.2/24", next.text);
  const after = await ipamCall(daemon.socketPath, "RequestAddress", { PoolID: POOL_ID, Address: "", Options: {} });
  assert.is(after.body.Address, "10.88.0.4/24", after.text);
  // No refused pool was kept: each can be had now (and given back).
  for (const pool of ["10.61.0.0/24", "10.62.0.0/24", "10.64.0.0/24", "10.65.0.0/24", "10.66.0.0/24"]) {
    const reply = await ipamCall(daemon.socketPath, "RequestPool", poolRequest({ Pool: pool }));
    assert.is(reply.status, 200, `${pool}: ${reply.text}`);
    const released = await ipamCall(daemon.socketPath, "ReleasePool", { PoolID: reply.body.PoolID });
    assert.is(released.status, 200, released.text);
  }
  // The daemon logged no crash and is still running.
  assert.not.match(daemon.output(), /uncaught|unhandled/i);
  assert.is(await daemon.stop(), 0, daemon.output().slice(-2000));
});

bad.run();

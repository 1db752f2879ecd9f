import { isTsnetError } from "@tsnet/protocol";
import { MemoryStore } from "@tsnet/store";
import { FailingStore } from "@tsnet/store/testing";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createIpam } from "./ipam.js";
import { GATEWAY, make, poolRequest, rejects } from "./ipam.test.helpers.js";
import { KEYS } from "./keys.js";
import { StaticHostNetworks } from "./testing.js";

// ------------------------------------------------------------------------------------------------------------------
const addresses = suite("Ipam: addresses");

addresses("gives the gateway .1 of a plain subnet, then .2 to the first endpoint, in CIDR form", async () => {
  const { ipam } = await make();
  const { PoolID } = await ipam.requestPool(poolRequest({ Pool: "10.99.0.0/24" }));
  assert.equal(await ipam.requestAddress({ PoolID, Address: "", Options: GATEWAY }), {
    Address: "10.99.0.1/24",
    Data: {},
  });
  assert.is((await ipam.requestAddress({ PoolID, Address: "", Options: {} })).Address, "10.99.0.2/24");
});

addresses("gives the gateway the first address of the sub-pool, and endpoints the next", async () => {
  const { ipam } = await make();
  const { PoolID } = await ipam.requestPool(poolRequest({ Pool: "10.95.0.0/24", SubPool: "10.95.0.128/25" }));
  assert.is((await ipam.requestAddress({ PoolID, Address: "", Options: GATEWAY })).Address, "10.95.0.128/24");
  assert.is((await ipam.requestAddress({ PoolID, Address: "", Options: {} })).Address, "10.95.0.129/24");
});

addresses("honours a requested gateway, also outside the sub-pool, and refuses one outside the pool", async () => {
  const { ipam } = await make();
  const { PoolID } = await ipam.requestPool(poolRequest({ Pool: "10.95.0.0/24", SubPool: "10.95.0.128/25" }));
  assert.is(
    (await ipam.requestAddress({ PoolID, Address: "10.95.0.254", Options: GATEWAY })).Address,
    "10.95.0.254/24",
  );
  assert.is((await ipam.requestAddress({ PoolID, Address: "10.95.0.3", Options: {} })).Address, "10.95.0.3/24");
  await rejects(ipam.requestAddress({ PoolID, Address: "10.96.0.1", Options: GATEWAY }), "INVALID_ARGUMENT", /outside/);
});

addresses("refuses a taken address with CONFLICT, and network/broadcast with INVALID_ARGUMENT", async () => {
  const { ipam } = await make();
  const { PoolID } = await ipam.requestPool(poolRequest({ Pool: "10.99.0.0/24" }));
  await ipam.requestAddress({ PoolID, Address: "10.99.0.5", Options: {} });
  await rejects(ipam.requestAddress({ PoolID, Address: "10.99.0.5", Options: {} }), "CONFLICT", /already allocated/);
  await rejects(
    ipam.requestAddress({ PoolID, Address: "10.99.0.0", Options: {} }),
    "INVALID_ARGUMENT",
    /network address/,
  );
  await rejects(ipam.requestAddress({ PoolID, Address: "10.99.0.255", Options: {} }), "INVALID_ARGUMENT", /broadcast/);
  await rejects(ipam.requestAddress({ PoolID, Address: "10.99.0.7/24", Options: {} }), "INVALID_ARGUMENT", /plain IP/);
  await rejects(ipam.requestAddress({ PoolID, Address: "banana", Options: {} }), "INVALID_ARGUMENT", /"banana"/);
});

addresses("keeps aux addresses reserved: lowest-free skips them", async () => {
  const { ipam } = await make();
  const { PoolID } = await ipam.requestPool(poolRequest({ Pool: "10.99.0.0/24" }));
  await ipam.requestAddress({ PoolID, Address: "", Options: GATEWAY });
  await ipam.requestAddress({ PoolID, Address: "10.99.0.2", Options: {} }); // --aux-address
  assert.is((await ipam.requestAddress({ PoolID, Address: "", Options: {} })).Address, "10.99.0.3/24");
});

addresses("exhausts a /29 after six addresses with EXHAUSTED", async () => {
  const { ipam } = await make();
  const { PoolID } = await ipam.requestPool(poolRequest({ Pool: "10.99.0.0/29" }));
  for (let i = 1; i <= 6; i++) {
    assert.is((await ipam.requestAddress({ PoolID, Address: "", Options: {} })).Address, `10.99.0.${i}/29`);
  }
  await rejects(ipam.requestAddress({ PoolID, Address: "", Options: {} }), "EXHAUSTED", /10\.99\.0\.0\/29/);
  assert.is(ipam.freeCount(PoolID), 0n);
});

addresses("exhausts an IPv6 /126 after ::1-::3 and gives the gateway ::1", async () => {
  const { ipam } = await make();
  const { PoolID } = await ipam.requestPool(poolRequest({ Pool: "fd00:99::/126", V6: true }));
  assert.is((await ipam.requestAddress({ PoolID, Address: "", Options: GATEWAY })).Address, "fd00:99::1/126");
  assert.is((await ipam.requestAddress({ PoolID, Address: "", Options: {} })).Address, "fd00:99::2/126");
  assert.is((await ipam.requestAddress({ PoolID, Address: "", Options: {} })).Address, "fd00:99::3/126");
  await rejects(ipam.requestAddress({ PoolID, Address: "", Options: {} }), "EXHAUSTED");
});

addresses("allocates in an IPv6 /64 and honours explicit IPv6 addresses in canonical form", async () => {
  const { ipam } = await make();
  const { PoolID } = await ipam.requestPool(poolRequest({ Pool: "fd00:96::/64", V6: true }));
  assert.is((await ipam.requestAddress({ PoolID, Address: "", Options: GATEWAY })).Address, "fd00:96::1/64");
  assert.is((await ipam.requestAddress({ PoolID, Address: "FD00:96:0:0::50", Options: {} })).Address, "fd00:96::50/64");
  await rejects(ipam.requestAddress({ PoolID, Address: "fd00:96::50", Options: {} }), "CONFLICT");
  assert.is(ipam.freeCount(PoolID), (1n << 64n) - 3n);
});

addresses("hands out round-robin with com.docker.network.ipam.serial, per request or per pool", async () => {
  const { ipam } = await make();
  const serial = { "com.docker.network.ipam.serial": "true" };
  const a = await ipam.requestPool(poolRequest({ Pool: "10.99.0.0/24" }));
  const first = await ipam.requestAddress({ PoolID: a.PoolID, Address: "", Options: serial });
  await ipam.releaseAddress({ PoolID: a.PoolID, Address: first.Address.split("/")[0] as string });
  assert.is((await ipam.requestAddress({ PoolID: a.PoolID, Address: "", Options: serial })).Address, "10.99.0.2/24");
  const b = await ipam.requestPool(poolRequest({ Pool: "10.98.0.0/30", Options: serial }));
  assert.is((await ipam.requestAddress({ PoolID: b.PoolID, Address: "", Options: {} })).Address, "10.98.0.1/30");
  await ipam.releaseAddress({ PoolID: b.PoolID, Address: "10.98.0.1" });
  assert.is((await ipam.requestAddress({ PoolID: b.PoolID, Address: "", Options: {} })).Address, "10.98.0.2/30");
  assert.is((await ipam.requestAddress({ PoolID: b.PoolID, Address: "", Options: {} })).Address, "10.98.0.1/30");
});

addresses("hands a released address out again at once (lowest free)", async () => {
  const { ipam } = await make();
  const { PoolID } = await ipam.requestPool(poolRequest({ Pool: "10.99.0.0/24" }));
  for (let i = 0; i < 3; i++) await ipam.requestAddress({ PoolID, Address: "", Options: {} });
  await ipam.releaseAddress({ PoolID, Address: "10.99.0.2" });
  assert.is((await ipam.requestAddress({ PoolID, Address: "", Options: {} })).Address, "10.99.0.2/24");
});

addresses("treats releases of unknown pools and free addresses as done, refusing malformed input", async () => {
  const { ipam } = await make();
  const { PoolID } = await ipam.requestPool(poolRequest({ Pool: "10.99.0.0/24" }));
  await ipam.releaseAddress({ PoolID, Address: "10.99.0.77" });
  await ipam.releaseAddress({ PoolID, Address: "10.1.0.77" });
  await ipam.releaseAddress({ PoolID: "LocalDefault/10.1.0.0/24", Address: "10.1.0.1" });
  await rejects(ipam.releaseAddress({ PoolID, Address: "10.99.0.7/24" }), "INVALID_ARGUMENT");
  await rejects(ipam.releaseAddress({ PoolID, Address: "x" }), "INVALID_ARGUMENT");
  await rejects(ipam.releaseAddress({ PoolID: "LocalDefault/x", Address: "10.1.0.1" }), "INVALID_ARGUMENT");
  assert.is(ipam.freeCount(PoolID), 254n);
});

addresses("says NOT_FOUND for an unknown pool and INVALID_ARGUMENT for a malformed PoolID", async () => {
  const { ipam } = await make();
  await rejects(ipam.requestAddress({ PoolID: "LocalDefault/10.1.0.0/24", Address: "", Options: {} }), "NOT_FOUND");
  await rejects(ipam.requestAddress({ PoolID: "nope", Address: "", Options: {} }), "INVALID_ARGUMENT");
});

addresses("reports pools, allocations and free counts", async () => {
  const { ipam } = await make();
  const { PoolID } = await ipam.requestPool(poolRequest({ Pool: "10.99.0.0/24", SubPool: "10.99.0.0/28" }));
  await ipam.requestAddress({ PoolID, Address: "", Options: GATEWAY });
  await ipam.requestAddress({ PoolID, Address: "10.99.0.100", Options: {} });
  assert.equal(ipam.allocations(PoolID), ["10.99.0.1", "10.99.0.100"]);
  assert.is(ipam.freeCount(PoolID), 14n);
  assert.equal(ipam.pools(), [
    {
      poolId: PoolID,
      addressSpace: "LocalDefault",
      pool: "10.99.0.0/24",
      subPool: "10.99.0.0/28",
      options: {},
      v6: false,
      allocated: 2n,
      free: 14n,
    },
  ]);
  assert.throws(
    () => ipam.freeCount("LocalDefault/10.1.0.0/24"),
    (e: unknown) => isTsnetError(e) && e.code === "NOT_FOUND",
  );
});

addresses.run();

// ------------------------------------------------------------------------------------------------------------------
const durability = suite("Ipam: store and concurrency");

durability("writes one small key per allocation and reloads everything on restart", async () => {
  const store = new MemoryStore();
  const first = await createIpam({ store, hostNetworks: new StaticHostNetworks() });
  const { PoolID } = await first.requestPool(poolRequest({ Pool: "10.99.0.0/24", Options: { a: "b" } }));
  await first.requestAddress({ PoolID, Address: "", Options: GATEWAY });
  await first.requestAddress({ PoolID, Address: "", Options: {} });
  assert.is(store.get(KEYS.address(PoolID, "10.99.0.2")), "address");
  assert.is(store.get(KEYS.address(PoolID, "10.99.0.1")), "gateway");
  const second = await createIpam({ store, hostNetworks: new StaticHostNetworks() });
  assert.equal(second.pools(), first.pools());
  assert.is((await second.requestAddress({ PoolID, Address: "", Options: {} })).Address, "10.99.0.3/24");
  await rejects(second.requestPool(poolRequest({ Pool: "10.99.0.0/24" })), "CONFLICT");
});

durability("keeps the serial cursor across a restart", async () => {
  const store = new MemoryStore();
  const serial = { "com.docker.network.ipam.serial": "true" };
  const first = await createIpam({ store, hostNetworks: new StaticHostNetworks() });
  const { PoolID } = await first.requestPool(poolRequest({ Pool: "10.99.0.0/24", Options: serial }));
  await first.requestAddress({ PoolID, Address: "", Options: {} });
  await first.releaseAddress({ PoolID, Address: "10.99.0.1" });
  const second = await createIpam({ store, hostNetworks: new StaticHostNetworks() });
  assert.is((await second.requestAddress({ PoolID, Address: "", Options: {} })).Address, "10.99.0.2/24");
});

durability("keeps nothing when a commit fails: the address and the pool are free again", async () => {
  const store = new FailingStore(new MemoryStore());
  const ipam = await createIpam({ store, hostNetworks: new StaticHostNetworks() });
  store.failNext();
  await rejects(ipam.requestPool(poolRequest({ Pool: "10.99.0.0/24" })), "UNAVAILABLE");
  assert.equal(ipam.pools(), []);
  const { PoolID } = await ipam.requestPool(poolRequest({ Pool: "10.99.0.0/24" }));
  store.failNext();
  await rejects(ipam.requestAddress({ PoolID, Address: "", Options: {} }), "UNAVAILABLE");
  assert.is(ipam.freeCount(PoolID), 254n);
  assert.is((await ipam.requestAddress({ PoolID, Address: "", Options: {} })).Address, "10.99.0.1/24");
  store.failNext();
  await rejects(ipam.releaseAddress({ PoolID, Address: "10.99.0.1" }), "UNAVAILABLE");
  assert.equal(ipam.allocations(PoolID), ["10.99.0.1"]);
  store.failNext();
  await rejects(ipam.releasePool({ PoolID }), "UNAVAILABLE");
  assert.is(ipam.pools().length, 1);
});

durability("never gives two concurrent requests the same address while commits are pending", async () => {
  const store = new FailingStore(new MemoryStore());
  const ipam = await createIpam({ store, hostNetworks: new StaticHostNetworks() });
  const { PoolID } = await ipam.requestPool(poolRequest({ Pool: "10.99.0.0/24" }));
  store.failWhen((writes) => writes.has(KEYS.address(PoolID, "10.99.0.7")));
  const results = await Promise.allSettled(
    Array.from({ length: 32 }, () => ipam.requestAddress({ PoolID, Address: "", Options: {} })),
  );
  const granted = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.Address] : []));
  assert.is(granted.length, 31);
  assert.is(new Set(granted).size, 31);
  assert.not.ok(granted.includes("10.99.0.7/24"));
  store.failWhen(undefined);
  assert.is((await ipam.requestAddress({ PoolID, Address: "", Options: {} })).Address, "10.99.0.7/24");
});

durability(
  "refuses addresses from a pool whose creation is not committed yet, and from a pool being released",
  async () => {
    const { ipam } = await make();
    const creating = ipam.requestPool(poolRequest({ Pool: "10.99.0.0/24" }));
    await rejects(ipam.requestAddress({ PoolID: "LocalDefault/10.99.0.0/24", Address: "", Options: {} }), "NOT_FOUND");
    const { PoolID } = await creating;
    const releasing = ipam.releasePool({ PoolID });
    await rejects(ipam.requestAddress({ PoolID, Address: "", Options: {} }), "NOT_FOUND");
    await releasing;
  },
);

durability("gives concurrent default-pool requests distinct pools", async () => {
  const { ipam } = await make();
  const got = await Promise.all(Array.from({ length: 8 }, () => ipam.requestPool(poolRequest())));
  assert.is(new Set(got.map((g) => g.Pool)).size, 8);
});

durability("shares one pending release between duplicate ReleaseAddress calls", async () => {
  const { ipam, store } = await make();
  const { PoolID } = await ipam.requestPool(poolRequest({ Pool: "10.99.0.0/24" }));
  await ipam.requestAddress({ PoolID, Address: "", Options: {} });
  await Promise.all([
    ipam.releaseAddress({ PoolID, Address: "10.99.0.1" }),
    ipam.releaseAddress({ PoolID, Address: "10.99.0.1" }),
  ]);
  assert.equal(ipam.allocations(PoolID), []);
  assert.is(store.get(KEYS.address(PoolID, "10.99.0.1")), undefined);
});

durability.run();

import { suite } from "uvu";
import * as assert from "uvu/assert";
import { GATEWAY, make, poolRequest, rejects } from "./ipam.test.helpers.js";
import { StaticHostNetworks } from "./testing.js";

// ------------------------------------------------------------------------------------------------------------------
const spaces = suite("Ipam: capabilities and address spaces");

spaces("asks Docker for neither a MAC nor a replay", async () => {
  const { ipam } = await make();
  assert.equal(ipam.getCapabilities(), { RequiresMACAddress: false, RequiresRequestReplay: false });
});

spaces("names Docker's default address spaces, or configured ones", async () => {
  assert.equal((await make()).ipam.getDefaultAddressSpaces(), {
    LocalDefaultAddressSpace: "LocalDefault",
    GlobalDefaultAddressSpace: "GlobalDefault",
  });
  const custom = await make({ addressSpaces: { local: "tsnet-local", global: "tsnet-global" } });
  assert.is(custom.ipam.getDefaultAddressSpaces().LocalDefaultAddressSpace, "tsnet-local");
});

spaces("lets the same pool exist once in each address space", async () => {
  const { ipam } = await make();
  const local = await ipam.requestPool(poolRequest({ Pool: "10.99.0.0/24" }));
  const global = await ipam.requestPool(poolRequest({ AddressSpace: "GlobalDefault", Pool: "10.99.0.0/24" }));
  assert.is(local.PoolID, "LocalDefault/10.99.0.0/24");
  assert.is(global.PoolID, "GlobalDefault/10.99.0.0/24");
});

spaces("refuses an unknown address space", async () => {
  const { ipam } = await make();
  await rejects(
    ipam.requestPool(poolRequest({ AddressSpace: "Nope", Pool: "10.0.0.0/24" })),
    "INVALID_ARGUMENT",
    /"Nope"/,
  );
});

spaces.run();

// ------------------------------------------------------------------------------------------------------------------
const defaults = suite("Ipam: default pools");

defaults("hands out Docker's default pools in order: 172.17/16 first", async () => {
  const { ipam } = await make();
  const got = [];
  for (let i = 0; i < 17; i++) got.push((await ipam.requestPool(poolRequest())).Pool);
  assert.equal(got.slice(0, 3), ["172.17.0.0/16", "172.18.0.0/16", "172.19.0.0/16"]);
  assert.is(got[14], "172.31.0.0/16");
  assert.equal(got.slice(15), ["192.168.0.0/20", "192.168.16.0/20"]);
});

defaults("skips networks the host routes, so the first network gets 172.18 beside docker0", async () => {
  const { ipam } = await make({ hostNetworks: new StaticHostNetworks(["0.0.0.0/0", "172.17.0.0/16", "10.0.0.0/8"]) });
  assert.is((await ipam.requestPool(poolRequest())).Pool, "172.18.0.0/16");
});

defaults("skips a default pool that overlaps an explicitly requested pool", async () => {
  const { ipam } = await make();
  await ipam.requestPool(poolRequest({ Pool: "172.17.5.0/24" }));
  assert.is((await ipam.requestPool(poolRequest())).Pool, "172.18.0.0/16");
});

defaults("returns a different pool each time the daemon retries after an overlap", async () => {
  const { ipam } = await make();
  const seen = new Set<string>();
  for (let i = 0; i < 5; i++) seen.add((await ipam.requestPool(poolRequest())).PoolID);
  assert.is(seen.size, 5);
});

defaults("says EXHAUSTED when every default pool is taken", async () => {
  const { ipam } = await make({ defaultPools: [{ base: "10.10.0.0/23", size: 24 }] });
  assert.is((await ipam.requestPool(poolRequest())).Pool, "10.10.0.0/24");
  assert.is((await ipam.requestPool(poolRequest())).Pool, "10.10.1.0/24");
  await rejects(ipam.requestPool(poolRequest()), "EXHAUSTED", /no default pool left/);
});

defaults("takes --default-address-pool style lists, and IPv6 defaults when configured", async () => {
  const { ipam } = await make({
    defaultPools: [
      { base: "10.200.0.0/16", size: 24 },
      { base: "fd00:ab::/48", size: 64 },
    ],
  });
  assert.is((await ipam.requestPool(poolRequest())).Pool, "10.200.0.0/24");
  assert.is((await ipam.requestPool(poolRequest({ V6: true }))).Pool, "fd00:ab::/64");
  assert.is((await ipam.requestPool(poolRequest({ V6: true }))).Pool, "fd00:ab:0:1::/64");
});

defaults("has no default IPv6 pool, as Docker 20.10", async () => {
  const { ipam } = await make();
  await rejects(ipam.requestPool(poolRequest({ V6: true })), "EXHAUSTED", /no default IPv6 pool/);
});

defaults("uses 10.0.0.0/8 in /24s for the global address space", async () => {
  const { ipam } = await make();
  assert.is((await ipam.requestPool(poolRequest({ AddressSpace: "GlobalDefault" }))).Pool, "10.0.0.0/24");
});

defaults("refuses a malformed default pool list", async () => {
  await rejects(make({ defaultPools: [{ base: "10.0.0.0/16", size: 8 }] }), "INVALID_ARGUMENT", /size 8/);
});

defaults("answers UNAVAILABLE when the host routes cannot be read", async () => {
  const hostNetworks = new StaticHostNetworks();
  hostNetworks.fail(new Error("EIO"));
  const { ipam } = await make({ hostNetworks });
  await rejects(ipam.requestPool(poolRequest()), "UNAVAILABLE", /routes/);
  assert.equal(ipam.pools(), []);
});

defaults.run();

// ------------------------------------------------------------------------------------------------------------------
const explicit = suite("Ipam: explicit pools");

explicit("returns Docker's PoolID shape and no gateway in Data", async () => {
  const { ipam } = await make();
  assert.equal(await ipam.requestPool(poolRequest({ Pool: "10.99.0.0/24" })), {
    PoolID: "LocalDefault/10.99.0.0/24",
    Pool: "10.99.0.0/24",
    Data: {},
  });
  assert.is(
    (await ipam.requestPool(poolRequest({ Pool: "10.98.0.0/24", SubPool: "10.98.0.128/25" }))).PoolID,
    "LocalDefault/10.98.0.0/24/10.98.0.128/25",
  );
});

explicit("refuses an overlapping pool in the same space with CONFLICT naming both CIDRs", async () => {
  const { ipam } = await make();
  await ipam.requestPool(poolRequest({ Pool: "10.99.0.0/16" }));
  await rejects(
    ipam.requestPool(poolRequest({ Pool: "10.99.3.0/24" })),
    "CONFLICT",
    /10\.99\.3\.0\/24.*10\.99\.0\.0\/16/,
  );
  await rejects(ipam.requestPool(poolRequest({ Pool: "10.99.0.0/16" })), "CONFLICT");
});

explicit("refuses a sub-pool outside its pool, a sub-pool without a pool, and a family mismatch", async () => {
  const { ipam } = await make();
  await rejects(ipam.requestPool(poolRequest({ Pool: "10.99.0.0/24", SubPool: "10.99.1.0/25" })), "INVALID_ARGUMENT");
  await rejects(ipam.requestPool(poolRequest({ SubPool: "10.99.1.0/25" })), "INVALID_ARGUMENT", /needs a Pool/);
  await rejects(ipam.requestPool(poolRequest({ Pool: "fd00::/64" })), "INVALID_ARGUMENT", /V6 is false/);
  await rejects(ipam.requestPool(poolRequest({ Pool: "10.0.0.0/24", V6: true })), "INVALID_ARGUMENT", /V6 is true/);
  await rejects(ipam.requestPool(poolRequest({ Pool: "10.0.0.0/33" })), "INVALID_ARGUMENT", /"10\.0\.0\.0\/33"/);
  await rejects(ipam.requestPool(poolRequest({ Pool: "10.0.0.0/24", Options: { a: 1 as never } })), "INVALID_ARGUMENT");
  assert.equal(ipam.pools(), []);
});

explicit("frees the pool and everything still allocated in it on ReleasePool", async () => {
  const { ipam, store } = await make();
  const { PoolID } = await ipam.requestPool(poolRequest({ Pool: "10.99.0.0/24" }));
  await ipam.requestAddress({ PoolID, Address: "", Options: GATEWAY });
  await ipam.requestAddress({ PoolID, Address: "", Options: {} });
  await ipam.releasePool({ PoolID });
  assert.equal(ipam.pools(), []);
  assert.equal(store.list("ipam/"), []);
  assert.is((await ipam.requestPool(poolRequest({ Pool: "10.99.0.0/24" }))).PoolID, PoolID);
});

explicit("treats ReleasePool of an unknown pool as done, but refuses a malformed PoolID", async () => {
  const { ipam } = await make();
  await ipam.releasePool({ PoolID: "LocalDefault/10.1.0.0/24" });
  await rejects(ipam.releasePool({ PoolID: "garbage" }), "INVALID_ARGUMENT", /"garbage"/);
});

explicit.run();

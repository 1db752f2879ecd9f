// Races through the real daemon's socket (32 concurrent clients, as dockerd's parallel `docker run`s would be): one
// address or pool asked for by all of them goes to exactly one, default pools asked for together are all distinct,
// and releases racing allocations never make an address held twice. Needs root (the daemon opens netlink and
// nftables) but no dockerd.
import { randomInt } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { cleanup, fixture, type RunningDaemon, startDaemon } from "./harness.js";
import { closeIpamConnections, ipamCall, overlaps4, poolRequest, SOCKET_ONLY } from "./ipam-helpers.js";

const CLIENTS = 32;
const race = suite("IPAM races through the daemon");
const running = fixture<RunningDaemon>(() => startDaemon(SOCKET_ONLY));
race.before(running.setup);
race.after(async () => {
  closeIpamConnections();
  await cleanup();
});

function all<T>(work: (client: number) => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: CLIENTS }, (_, client) => work(client)));
}

race("one explicit pool asked for by 32 clients at once goes to exactly one", async () => {
  const { socketPath } = running.get();
  const replies = await all(() => ipamCall(socketPath, "RequestPool", poolRequest({ Pool: "10.71.0.0/24" })));
  assert.equal(
    replies.map((reply) => reply.status).sort(),
    [200, ...Array(CLIENTS - 1).fill(409)],
    replies.map((reply) => reply.text).join("\n"),
  );
});

race("one address asked for by 32 clients at once goes to exactly one", async () => {
  const { socketPath } = running.get();
  const PoolID = "LocalDefault/10.71.0.0/24";
  const replies = await all(() =>
    ipamCall(socketPath, "RequestAddress", { PoolID, Address: "10.71.0.99", Options: {} }),
  );
  assert.equal(replies.map((reply) => reply.status).sort(), [200, ...Array(CLIENTS - 1).fill(409)]);
  // And 32 requests without an address get 32 distinct ones, never .99.
  const free = await all(() => ipamCall(socketPath, "RequestAddress", { PoolID, Address: "", Options: {} }));
  const addresses = free.map((reply) => String(reply.body.Address));
  assert.is(new Set(addresses).size, CLIENTS);
  assert.not.ok(addresses.includes("10.71.0.99/24"));
  assert.is((await ipamCall(socketPath, "ReleasePool", { PoolID })).status, 200);
});

race("default pools asked for by 32 clients at once are all distinct and never overlap", async () => {
  const { socketPath } = running.get();
  // The global space (10.0.0.0/8 in /24s): no host-route luck needed to get 32 of them.
  const replies = await all(() => ipamCall(socketPath, "RequestPool", poolRequest({ AddressSpace: "GlobalDefault" })));
  assert.ok(
    replies.every((reply) => reply.status === 200),
    replies.map((reply) => reply.text).join("\n"),
  );
  const pools = replies.map((reply) => String(reply.body.Pool));
  for (const [i, pool] of pools.entries()) {
    for (const other of pools.slice(i + 1)) assert.not.ok(overlaps4(pool, other), `${pool} overlaps ${other}`);
  }
  for (const reply of replies) {
    assert.is((await ipamCall(socketPath, "ReleasePool", { PoolID: reply.body.PoolID })).status, 200);
  }
});

race("releases racing allocations in a /28: never two holders of one address, and the count adds up", async () => {
  const { socketPath } = running.get();
  const pool = await ipamCall(socketPath, "RequestPool", poolRequest({ Pool: "10.72.0.0/28" }));
  assert.is(pool.status, 200, pool.text);
  const PoolID = String(pool.body.PoolID);
  /** Who holds each address, and whether its release has been sent (then a new holder may show up any time). */
  const holders = new Map<string, { client: number; releasing: boolean }>();
  const problems: string[] = [];
  let given = 0;
  await all(async (client) => {
    for (let round = 0; round < 40; round++) {
      const reply = await ipamCall(socketPath, "RequestAddress", { PoolID, Address: "", Options: {} });
      if (reply.status === 429) continue; // all 14 taken right now
      if (reply.status !== 200) {
        problems.push(reply.text);
        return;
      }
      const address = String(reply.body.Address).split("/")[0] ?? "";
      const holder = holders.get(address);
      if (holder !== undefined && !holder.releasing) {
        problems.push(`${address} given to ${client} while ${holder.client} holds it`);
      }
      const mine = { client, releasing: false };
      holders.set(address, mine);
      given++;
      // Hold it a moment (other clients allocate meanwhile), then give it back.
      await new Promise((resolve) => setTimeout(resolve, randomInt(0, 3)));
      mine.releasing = true;
      const released = await ipamCall(socketPath, "ReleaseAddress", { PoolID, Address: address });
      if (released.status !== 200) problems.push(released.text);
      if (holders.get(address) === mine) holders.delete(address);
    }
  });
  assert.equal(problems, []);
  assert.ok(given > 14, `addresses went round (${given} handed out)`);
  // Everything was given back: all 14 addresses can be had again, in order.
  const again = [];
  for (let n = 0; n < 14; n++) {
    again.push(
      String((await ipamCall(socketPath, "RequestAddress", { PoolID, Address: "", Options: {} })).body.Address),
    );
  }
  assert.equal(
    again,
    Array.from({ length: 14 }, (_, n) => `10.72.0.${n + 1}/28`),
  );
  assert.is((await ipamCall(socketPath, "RequestAddress", { PoolID, Address: "", Options: {} })).status, 429);
});

race.run();

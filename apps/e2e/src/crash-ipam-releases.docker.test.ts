// Issue 4 §5 crash test, continued (crash-ipam.docker.test.ts has the allocation-only rounds): releases mixed in
// with allocations, and pools requested and released, over the real daemon's socket by 32 clients; kill -9 at a
// random moment, restart on the same state dir. An acknowledged release must stay released (unless a request in
// flight at the kill took the address or pool again); an acknowledged allocation not released since must stay held.
// Needs root (the daemon opens netlink and nftables) but no dockerd.
import { randomInt } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { cleanup, type RunningDaemon, startDaemon } from "./harness.js";
import {
  closeIpamConnections,
  errorText,
  ipamCall,
  parallel,
  poolRequest,
  SOCKET_ONLY,
  withBudget,
} from "./ipam-helpers.js";

const CLIENTS = 32;
/** 4094 usable addresses: the run never exhausts it before the kill, and it can be filled afterwards. */
const POOL_V4 = "10.77.0.0/20";
const USABLE_V4 = 2 ** 12 - 2;

const crash = suite("IPAM through the daemon: kill -9 amid releases, restart on the same state dir");
crash.after(async () => {
  closeIpamConnections();
  await cleanup();
});

crash("with releases mixed in: an acknowledged release stays released, an unreleased ack stays held", async () => {
  await withBudget(
    crashWithReleases(await startDaemon(SOCKET_ONLY), randomInt(300, 2_500)),
    "the crash test with releases",
  );
});

crash(
  "pools: an acknowledged RequestPool stays held under its PoolID, an acknowledged ReleasePool stays released",
  async () => {
    await withBudget(crashPools(await startDaemon(SOCKET_ONLY), randomInt(100, 800)), "the pool crash test");
  },
);

/**
 * IPv4 only: each client allocates, and after every third ack releases one of its own held addresses at random.
 * After the kill and restart, an address whose last acknowledged operation was an allocation must be held; one
 * whose last acknowledged operation was a release may be held again only by a request in flight at the kill.
 */
async function crashWithReleases(daemon: RunningDaemon, killAfter: number): Promise<void> {
  const socket = daemon.socketPath;
  const pool = await ipamCall(socket, "RequestPool", poolRequest({ Pool: POOL_V4 }));
  assert.is(pool.status, 200, pool.text);
  const poolId = String(pool.body.PoolID);
  /** The last acknowledged operation per address (no prefix). */
  const last = new Map<string, "held" | "released">();
  /**
   * Releases sent and not yet acknowledged, by address. An allocation that returns one of these proves the release
   * was durable (the IPAM keeps an address taken until its delete is on disk): the address then has a new owner,
   * and the late release reply must not mark it released. Left over at the kill: either state is right.
   */
  const releasing = new Map<string, symbol>();
  const uncertain = new Set<string>();
  let acks = 0;
  let unansweredAllocations = 0;
  let killing: Promise<void> | undefined;
  const unexpected: string[] = [];
  const ack = () => {
    acks++;
    if (acks >= killAfter && killing === undefined) {
      killing = new Promise((resolve) => setTimeout(resolve, randomInt(0, 15))).then(() => daemon.kill9());
    }
  };
  const client = async () => {
    const mine: string[] = [];
    for (let n = 0; ; n++) {
      let reply: Awaited<ReturnType<typeof ipamCall>>;
      try {
        reply = await ipamCall(socket, "RequestAddress", { PoolID: poolId, Address: "", Options: {} });
      } catch {
        unansweredAllocations++;
        return;
      }
      if (reply.status !== 200) {
        unexpected.push(`RequestAddress: ${reply.status} ${reply.text}`);
        return;
      }
      const address = String(reply.body.Address).split("/")[0] ?? "";
      if (last.get(address) === "held" && !releasing.has(address)) unexpected.push(`${address} handed out while held`);
      releasing.delete(address);
      last.set(address, "held");
      mine.push(address);
      ack();
      if (n % 3 !== 2) continue;
      const victim = mine.splice(randomInt(0, mine.length), 1)[0] ?? "";
      const token = Symbol(victim);
      releasing.set(victim, token);
      try {
        reply = await ipamCall(socket, "ReleaseAddress", { PoolID: poolId, Address: victim });
      } catch {
        if (releasing.get(victim) === token) uncertain.add(victim); // in flight at the kill
        return;
      }
      if (reply.status !== 200) {
        unexpected.push(`ReleaseAddress: ${reply.status} ${reply.text}`);
        return;
      }
      if (releasing.get(victim) === token) {
        releasing.delete(victim);
        last.set(victim, "released");
      }
      ack();
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, () => client()));
  await killing;
  closeIpamConnections();
  assert.equal(unexpected, [], "every request before the kill succeeded, and no held address was handed out");
  assert.ok(killing !== undefined, "the daemon was killed");

  const second = await startDaemon({ ...SOCKET_ONLY, socketName: daemon.name, stateDir: daemon.stateDir });
  const probes = await parallel(
    [...last].filter(([address]) => !uncertain.has(address)),
    CLIENTS,
    async ([address, state]) => {
      const reply = await ipamCall(second.socketPath, "RequestAddress", {
        PoolID: poolId,
        Address: address,
        Options: {},
      });
      return { address, state, status: reply.status, text: reply.text };
    },
  );
  const lost = probes.filter((probe) => probe.state === "held" && probe.status !== 409);
  assert.equal(lost, [], `${lost.length} acknowledged allocations lost`);
  const odd = probes.filter((probe) => probe.state === "released" && probe.status !== 200 && probe.status !== 409);
  assert.equal(odd, [], "a released address is free, or held again by a request in flight");
  // A released address still held after the restart can only come from a request in flight at the kill.
  const heldAgain = probes.filter((probe) => probe.state === "released" && probe.status === 409).length;
  const takenByProbe = probes.filter((probe) => probe.state === "released" && probe.status === 200).length;
  assert.ok(
    heldAgain <= unansweredAllocations,
    `${heldAgain} released addresses held again, ${unansweredAllocations} in flight`,
  );

  const fresh: string[] = [];
  for (;;) {
    const reply = await ipamCall(second.socketPath, "RequestAddress", { PoolID: poolId, Address: "", Options: {} });
    if (reply.status === 429) break;
    assert.is(reply.status, 200, reply.text);
    fresh.push(String(reply.body.Address).split("/")[0] ?? "");
  }
  assert.is(new Set(fresh).size, fresh.length, "no address handed out twice after the restart");
  const collisions = fresh.filter(
    (address) => last.has(address) && !uncertain.has(address) && last.get(address) === "held",
  );
  assert.equal(collisions, [], "no held address handed out again");
  const held = probes.filter((probe) => probe.state === "held").length;
  const phantom = USABLE_V4 - held - heldAgain - takenByProbe - fresh.length;
  assert.ok(
    phantom >= 0 && phantom <= unansweredAllocations + uncertain.size,
    `${phantom} addresses held by no acknowledged request, ${unansweredAllocations} allocations and ${uncertain.size} releases in flight`,
  );
  assert.is((await ipamCall(second.socketPath, "ReleasePool", { PoolID: poolId })).status, 200);
  closeIpamConnections();
  assert.is(await second.stop(), 0, second.output().slice(-2000));
  const released = [...last.values()].filter((state) => state === "released").length;
  process.stdout.write(
    `  [crash+release] killed after ${acks} acks (${released} releases), ${unansweredAllocations} allocations and ` +
      `${uncertain.size} releases in flight; ${heldAgain} released addresses held again\n`,
  );
}

/**
 * Default pools of the global space (10.0.0.0/8 in /24s): each client requests one, and releases every other one
 * it got. After the kill and restart, a pool whose last acknowledged call was RequestPool is still held under the
 * same PoolID (asking for its CIDR is a conflict naming it); one whose last acknowledged call was ReleasePool is
 * free, unless a request in flight at the kill took it again.
 */
async function crashPools(daemon: RunningDaemon, killAfter: number): Promise<void> {
  const socket = daemon.socketPath;
  const last = new Map<string, { poolId: string; state: "held" | "released" }>();
  const releasing = new Map<string, symbol>();
  const uncertain = new Set<string>();
  let acks = 0;
  let unansweredRequests = 0;
  let killing: Promise<void> | undefined;
  const unexpected: string[] = [];
  const ack = () => {
    acks++;
    if (acks >= killAfter && killing === undefined) {
      killing = new Promise((resolve) => setTimeout(resolve, randomInt(0, 15))).then(() => daemon.kill9());
    }
  };
  const client = async () => {
    for (let n = 0; ; n++) {
      let reply: Awaited<ReturnType<typeof ipamCall>>;
      try {
        reply = await ipamCall(socket, "RequestPool", poolRequest({ AddressSpace: "GlobalDefault" }));
      } catch {
        unansweredRequests++;
        return;
      }
      if (reply.status !== 200) {
        unexpected.push(`RequestPool: ${reply.status} ${reply.text}`);
        return;
      }
      const pool = String(reply.body.Pool);
      const poolId = String(reply.body.PoolID);
      if (last.get(pool)?.state === "held" && !releasing.has(pool)) unexpected.push(`${pool} handed out while held`);
      releasing.delete(pool);
      last.set(pool, { poolId, state: "held" });
      ack();
      if (n % 2 === 0) continue;
      const token = Symbol(pool);
      releasing.set(pool, token);
      try {
        reply = await ipamCall(socket, "ReleasePool", { PoolID: poolId });
      } catch {
        if (releasing.get(pool) === token) uncertain.add(pool);
        return;
      }
      if (reply.status !== 200) {
        unexpected.push(`ReleasePool: ${reply.status} ${reply.text}`);
        return;
      }
      if (releasing.get(pool) === token) {
        releasing.delete(pool);
        last.set(pool, { poolId, state: "released" });
      }
      ack();
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, () => client()));
  await killing;
  closeIpamConnections();
  assert.equal(unexpected, [], "every call before the kill succeeded, and no held pool was handed out again");
  assert.ok(killing !== undefined, "the daemon was killed");

  const second = await startDaemon({ ...SOCKET_ONLY, socketName: daemon.name, stateDir: daemon.stateDir });
  const probes = await parallel(
    [...last].filter(([pool]) => !uncertain.has(pool)),
    CLIENTS,
    async ([pool, { poolId, state }]) => {
      const reply = await ipamCall(
        second.socketPath,
        "RequestPool",
        poolRequest({ AddressSpace: "GlobalDefault", Pool: pool }),
      );
      if (reply.status === 200) {
        await ipamCall(second.socketPath, "ReleasePool", { PoolID: reply.body.PoolID });
      }
      return { pool, poolId, state, status: reply.status, error: errorText(reply) };
    },
  );
  const lost = probes.filter(
    (probe) => probe.state === "held" && !(probe.status === 409 && probe.error.includes(probe.poolId)),
  );
  assert.equal(lost, [], `${lost.length} acknowledged pools lost or not under their PoolID`);
  const heldAgain = probes.filter((probe) => probe.state === "released" && probe.status !== 200);
  assert.ok(
    heldAgain.every((probe) => probe.status === 409) && heldAgain.length <= unansweredRequests,
    `${heldAgain.length} released pools held again, ${unansweredRequests} requests in flight`,
  );
  // Whatever is held can be released, and then every pool of this run can be had again.
  for (const probe of probes.filter((p) => p.status === 409)) {
    const poolId = probe.state === "held" ? probe.poolId : `GlobalDefault/${probe.pool}`;
    assert.is((await ipamCall(second.socketPath, "ReleasePool", { PoolID: poolId })).status, 200);
  }
  for (const pool of uncertain) {
    assert.is((await ipamCall(second.socketPath, "ReleasePool", { PoolID: `GlobalDefault/${pool}` })).status, 200);
  }
  closeIpamConnections();
  assert.is(await second.stop(), 0, second.output().slice(-2000));
  const released = probes.filter((probe) => probe.state === "released").length;
  process.stdout.write(
    `  [crash pools] killed after ${acks} acks; ${probes.length - released} held, ${released} released, ` +
      `${unansweredRequests} requests and ${uncertain.size} releases in flight, ${heldAgain.length} held again\n`,
  );
}

crash.run();

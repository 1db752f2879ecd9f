// Issue 4 §5 crash test, through the real daemon: 32 concurrent clients allocate addresses over its unix socket,
// the daemon is killed with SIGKILL at a random moment mid-run, restarted on the same state dir, and then every
// acknowledged address must still be allocated under the same PoolID and no new allocation may return one.
// It needs root (the daemon opens the host's netlink and nftables) but no dockerd; it lives with the Docker suites
// because it runs the built daemon from the harness. Rounds with releases and with pools: crash-ipam-releases.
import { randomInt } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { cleanup, type RunningDaemon, startDaemon } from "./harness.js";
import {
  closeIpamConnections,
  errorText,
  ipamCall,
  ipv4ToNumber,
  numberToIpv4,
  parallel,
  poolRequest,
  SOCKET_ONLY,
  withBudget,
} from "./ipam-helpers.js";

const CLIENTS = 32;
/** 4094 usable addresses: enough that the run never exhausts it before the kill, small enough to fill afterwards. */
const POOL_V4 = "10.77.0.0/20";
const USABLE_V4 = 2 ** 12 - 2;
const POOL_V6 = "fd77:1::/64";

const crash = suite("IPAM through the daemon: kill -9 mid-run, restart on the same state dir");
crash.after(async () => {
  closeIpamConnections();
  await cleanup();
});

interface Ack {
  poolId: string;
  address: string;
}

// Three rounds, each on a fresh daemon and state dir: a kill soon after the start, one mid-run, one late.
for (const [low, high] of [
  [20, 200],
  [400, 2_000],
  [2_000, 3_500],
] as const) {
  crash(`every acknowledged address survives kill -9 after ${low}-${high} acks, none is handed out twice`, async () => {
    await withBudget(crashAndCheck(await startDaemon(SOCKET_ONLY), randomInt(low, high)), "the crash test");
  });
}

async function crashAndCheck(daemon: RunningDaemon, killAfter: number): Promise<void> {
  const socket = daemon.socketPath;

  // 1. Pools, once: an IPv4 /20 (bitmap) and an IPv6 /64 (run-length set).
  const v4 = await ipamCall(socket, "RequestPool", poolRequest({ Pool: POOL_V4 }));
  assert.is(v4.status, 200, v4.text);
  const v6 = await ipamCall(socket, "RequestPool", poolRequest({ Pool: POOL_V6, V6: true }));
  assert.is(v6.status, 200, v6.text);
  const poolV4 = String(v4.body.PoolID);
  const poolV6 = String(v6.body.PoolID);
  const gateway = await ipamCall(socket, "RequestAddress", {
    PoolID: poolV4,
    Address: "",
    Options: { RequestAddressType: "com.docker.network.gateway" },
  });
  assert.is(gateway.status, 200, gateway.text);

  // 2. 32 clients allocate until the daemon dies; the kill comes after a random number of acks plus a random delay.
  const acked: Ack[] = [{ poolId: poolV4, address: String(gateway.body.Address) }];
  let killing: Promise<void> | undefined;
  const unanswered = { v4: 0, v6: 0 };
  const unexpected: string[] = [];
  const client = async (id: number) => {
    for (let n = 0; ; n++) {
      const poolId = (id + n) % 3 === 0 ? poolV6 : poolV4;
      let reply: Awaited<ReturnType<typeof ipamCall>>;
      try {
        reply = await ipamCall(socket, "RequestAddress", { PoolID: poolId, Address: "", Options: {} });
      } catch {
        // The daemon died with this request in flight: it may or may not have committed it, but it never acked it.
        if (poolId === poolV4) unanswered.v4++;
        else unanswered.v6++;
        return;
      }
      if (reply.status !== 200) {
        unexpected.push(`${reply.status} ${reply.text}`);
        return;
      }
      acked.push({ poolId, address: String(reply.body.Address) });
      if (acked.length >= killAfter && killing === undefined) {
        killing = new Promise((resolve) => setTimeout(resolve, randomInt(0, 15))).then(() => daemon.kill9());
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, id) => client(id)));
  await killing;
  closeIpamConnections();
  assert.equal(unexpected, [], "every request before the kill succeeded");
  assert.ok(killing !== undefined, "the daemon was killed");
  assert.ok(unanswered.v4 + unanswered.v6 >= 1, "the kill came while requests were in flight");
  assert.ok(unanswered.v4 + unanswered.v6 <= CLIENTS, "at most one request per client was in flight");
  const ackedKeys = acked.map((ack) => `${ack.poolId} ${ack.address}`);
  assert.is(new Set(ackedKeys).size, ackedKeys.length, "no address was acknowledged twice before the crash");
  for (const ack of acked) {
    assert.ok(ack.address.endsWith(ack.poolId === poolV4 ? "/20" : "/64"), `${ack.address} has its pool's prefix`);
  }

  // 3. Restart under the same name on the same state dir.
  const second = await startDaemon({ ...SOCKET_ONLY, socketName: daemon.name, stateDir: daemon.stateDir });

  // The pools are still held under the same PoolIDs: asking for them again is a conflict that names them.
  for (const [pool, poolId, isV6] of [
    [POOL_V4, poolV4, false],
    [POOL_V6, poolV6, true],
  ] as const) {
    const again = await ipamCall(second.socketPath, "RequestPool", poolRequest({ Pool: pool, V6: isV6 }));
    assert.is(again.status, 409, again.text);
    assert.ok(errorText(again).includes(poolId), `the conflict names ${poolId}: ${errorText(again)}`);
  }

  // Every acknowledged address is still allocated under its PoolID: asking for it explicitly is refused as taken.
  const explicit = await parallel(acked, CLIENTS, async (ack) => {
    const reply = await ipamCall(second.socketPath, "RequestAddress", {
      PoolID: ack.poolId,
      Address: ack.address.split("/")[0],
      Options: {},
    });
    return { ack, reply };
  });
  const lost = explicit
    .filter(({ reply }) => reply.status !== 409)
    .map(({ ack, reply }) => ({ ...ack, reply: reply.text }));
  assert.equal(lost, [], `${lost.length} of ${acked.length} acknowledged addresses were lost by the crash`);

  // 4. Allocate the rest of the IPv4 pool: no duplicates, no acknowledged address, and the count adds up.
  const fresh: string[] = [];
  const refusals: string[] = [];
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      for (;;) {
        const reply = await ipamCall(second.socketPath, "RequestAddress", { PoolID: poolV4, Address: "", Options: {} });
        if (reply.status === 429) return;
        if (reply.status !== 200) {
          refusals.push(`${reply.status} ${reply.text}`);
          return;
        }
        fresh.push(String(reply.body.Address));
      }
    }),
  );
  assert.equal(refusals, [], "filling the pool ends only with EXHAUSTED");
  assert.is(new Set(fresh).size, fresh.length, "no address handed out twice after the restart");
  const ackedV4 = new Set(acked.filter((ack) => ack.poolId === poolV4).map((ack) => ack.address));
  assert.equal(
    fresh.filter((address) => ackedV4.has(address)),
    [],
    "no acknowledged address handed out again",
  );
  // Committed but never acknowledged (in flight at the kill): allocated, but at most one per unanswered request.
  const phantom = USABLE_V4 - ackedV4.size - fresh.length;
  assert.ok(
    phantom >= 0 && phantom <= unanswered.v4,
    `${phantom} unacknowledged allocations, ${unanswered.v4} in flight`,
  );
  const all = new Set([...fresh, ...ackedV4].map((cidr) => ipv4ToNumber(cidr.split("/")[0] ?? "")));
  const base = ipv4ToNumber("10.77.0.0");
  for (const value of all) {
    assert.ok(value > base && value < base + 2 ** 12 - 1, `${numberToIpv4(value)} is inside ${POOL_V4}, not its ends`);
  }

  // 5. IPv6 (never exhaustible): a thousand more, none acknowledged before, none twice.
  const fresh6 = await parallel(Array.from({ length: 1_000 }), CLIENTS, async () => {
    const reply = await ipamCall(second.socketPath, "RequestAddress", { PoolID: poolV6, Address: "", Options: {} });
    assert.is(reply.status, 200, reply.text);
    return String(reply.body.Address);
  });
  const ackedV6 = new Set(acked.filter((ack) => ack.poolId === poolV6).map((ack) => ack.address));
  assert.is(new Set(fresh6).size, fresh6.length, "no IPv6 address handed out twice after the restart");
  assert.equal(
    fresh6.filter((address) => ackedV6.has(address)),
    [],
    "no acknowledged IPv6 address handed out again",
  );

  // 6. The pools go away cleanly, and the restarted daemon stops cleanly.
  for (const poolId of [poolV4, poolV6]) {
    const released = await ipamCall(second.socketPath, "ReleasePool", { PoolID: poolId });
    assert.is(released.status, 200, released.text);
  }
  closeIpamConnections();
  assert.is(await second.stop(), 0, second.output().slice(-2000));
  process.stdout.write(
    `  [crash] killed after ${acked.length} acks (target ${killAfter}), ${unanswered.v4 + unanswered.v6} in flight; ` +
      `${fresh.length} fresh IPv4 after restart, ${phantom} committed-unacked\n`,
  );
}

crash.run();

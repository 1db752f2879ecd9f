import type { VethAttachment, VethPool } from "@tsnet/kernel";
import { MemoryHost } from "@tsnet/kernel/testing";
import type { JoinResponse } from "@tsnet/protocol";
import type { Store } from "@tsnet/store";
import { FailingStore, MemoryStore } from "@tsnet/store/testing";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  assertRejects,
  callContext,
  createMemoryBridge,
  endpointRequest,
  linkNames,
  rejectsWith,
  withNetwork,
} from "./testing.js";

const race = suite("createEndpoint racing deleteNetwork");

race("an endpoint created while its network is deleted is undone, not orphaned", async () => {
  // A store whose next transaction waits until released: the network goes away between veth and record.
  const inner = new MemoryStore();
  let release: () => void = () => {};
  let held = false;
  const store: Store = {
    get: (key) => inner.get(key),
    list: (prefix) => inner.list(prefix),
    close: () => inner.close(),
    async transaction(work, signal) {
      if (held) {
        held = false;
        await new Promise<void>((resolve) => {
          release = resolve;
        });
      }
      return inner.transaction(work, signal);
    },
  };
  const { driver, namespace, networkId } = await withNetwork({}, await createMemoryBridge({ store }));
  held = true;
  const creating = driver.createEndpoint(endpointRequest(networkId), callContext());
  while (linkNames(namespace).length < 3) await new Promise((resolve) => setTimeout(resolve, 1));
  await driver.deleteNetwork({ NetworkID: networkId }, callContext());
  release();
  await assertRejects(creating, rejectsWith("NOT_FOUND", /deleted meanwhile/), "race");
  await driver.drain();
  assert.equal(linkNames(namespace), []);
  assert.equal(inner.list(""), []);
});

race.run();

const pooled = suite("createEndpoint with a veth pool");

/**
 * A VethPool over the fake links: `prepare` readies a pair (attached, pool-style random names) that `takeReady`
 * hands out; `take` hands out a ready one or makes one. `fill` (the driver's, on CreateNetwork) readies nothing.
 */
function fakePool(links: MemoryHost["root"]["links"]): VethPool & {
  taken: number;
  discarded: string[];
  prepare(attachment: VethAttachment): Promise<void>;
} {
  let counter = 0;
  const ready: Array<{ host: string; peer: string }> = [];
  const makePair = async (attachment: VethAttachment, signal?: AbortSignal) => {
    const id = String(counter++).padStart(6, "0");
    const pair = { host: `tsvq-pool${id}`, peer: `tsvp-pool${id}` };
    await links.addVethPair(pair.host, pair.peer, { ...attachment, up: true }, signal);
    return pair;
  };
  return {
    taken: 0,
    discarded: [],
    takeReady() {
      const pair = ready.shift();
      if (pair !== undefined) this.taken++;
      return pair;
    },
    async take(attachment, signal) {
      const pair = this.takeReady(attachment);
      if (pair !== undefined) return pair;
      this.taken++;
      return makePair(attachment, signal);
    },
    async discard(master) {
      this.discarded.push(master);
    },
    owns: (name) => name.startsWith("tsvq-"),
    fill: async () => {},
    async prepare(attachment) {
      ready.push(await makePair(attachment));
    },
    ready: new Map(),
    close: async () => {},
  };
}

pooled(
  "the pair comes from the pool, attached; Join names its container end; the record keeps both for reconcile and delete",
  async () => {
    const host = new MemoryHost();
    const pool = fakePool(host.root.links);
    const {
      driver,
      namespace,
      store,
      networkId,
      bridgeName: bridge,
    } = await withNetwork({}, await createMemoryBridge({ host, vethPool: pool }));
    const request = endpointRequest(networkId);
    const created = await driver.createEndpoint(request, callContext());
    assert.is(pool.taken, 1);
    const replayed = await driver.createEndpoint(request, callContext());
    assert.equal([pool.taken, replayed], [1, created], "a replay takes no second pair and answers the same");
    const joined = await driver.join({ ...request, SandboxKey: "", Options: request.Options }, callContext());
    assert.is(joined.InterfaceName?.SrcName, "tsvp-pool000000");
    const hostEnd = namespace.links.snapshot().find((link) => link.name === "tsvq-pool000000");
    assert.equal([hostEnd?.master, hostEnd?.up, hostEnd?.hairpin], [bridge, true, true]);
    const restarted = await createMemoryBridge({ host, store, vethPool: pool });
    assert.equal(restarted.driver.lastReconcile?.removed, []);
    await restarted.driver.deleteEndpoint(request, callContext());
    await restarted.driver.drain();
    assert.equal(linkNames(namespace), [bridge]);
    await restarted.driver.deleteNetwork({ NetworkID: networkId }, callContext());
    assert.equal(pool.discarded, [bridge], "the network's ready pairs go before its bridge");
  },
);

/** A network on a driver whose pool has one pair ready for it, endpoint records in `endpointStore`. */
async function withReadyPair(endpointStore: Store) {
  const host = new MemoryHost();
  const pool = fakePool(host.root.links);
  const bridge = await withNetwork({}, await createMemoryBridge({ host, vethPool: pool, endpointStore }));
  await pool.prepare({ mtu: 1500, master: bridge.bridgeName, hairpin: true });
  return { ...bridge, pool };
}

pooled("with a ready pair and a store that commits without waiting, CreateEndpoint answers directly", async () => {
  const endpointStore = new MemoryStore();
  const { driver, networkId, pool } = await withReadyPair(endpointStore);
  const request = endpointRequest(networkId);
  const answer = driver.createEndpoint(request, callContext());
  assert.not.instance(answer, Promise, "a reply, not a promise");
  assert.is(pool.taken, 1);
  assert.equal(
    endpointStore.list("").map(([, record]) => (record as { hostVeth: string }).hostVeth),
    ["tsvq-pool000000"],
    "recorded before the reply",
  );
  const joined = driver.join({ ...request, SandboxKey: "", Options: request.Options }, callContext());
  assert.not.instance(joined, Promise);
  assert.is((joined as JoinResponse).InterfaceName?.SrcName, "tsvp-pool000000");
});

pooled("a direct commit that fails deletes the ready pair it took and rejects", async () => {
  const endpointStore = new FailingStore(new MemoryStore());
  const { driver, namespace, networkId, bridgeName: bridge } = await withReadyPair(endpointStore);
  endpointStore.failNext();
  await assertRejects(
    driver.createEndpoint(endpointRequest(networkId), callContext()),
    rejectsWith("UNAVAILABLE", /injected commit failure/),
    "failed commit",
  );
  await driver.drain();
  assert.equal(linkNames(namespace), [bridge], "the taken pair is gone, nothing else was made");
  assert.equal(endpointStore.list(""), []);
});

pooled.run();

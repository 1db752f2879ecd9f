import type { VethPool } from "@tsnet/kernel";
import { MemoryHost } from "@tsnet/kernel/testing";
import type { Store } from "@tsnet/store";
import { MemoryStore } from "@tsnet/store/testing";
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

/** A VethPool over the fake links: every take makes an attached pair with pool-style random names. */
function fakePool(links: MemoryHost["root"]["links"]): VethPool & { taken: number; discarded: string[] } {
  let counter = 0;
  return {
    taken: 0,
    discarded: [],
    async take(attachment, signal) {
      this.taken++;
      const id = String(counter++).padStart(6, "0");
      const pair = { host: `tsvq-pool${id}`, peer: `tsvp-pool${id}` };
      await links.addVethPair(pair.host, pair.peer, { ...attachment, up: true }, signal);
      return pair;
    },
    async discard(master) {
      this.discarded.push(master);
    },
    owns: (name) => name.startsWith("tsvq-"),
    fill: async () => {},
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

pooled.run();

import { isTsnetError, TsnetError } from "@tsnet/protocol";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { watchLinks } from "./link-events.js";
import { type NetlinkNamespace, openNamespace } from "./namespace.js";
import { cleanupNamespaces, makeContainer, makeNamespace, ping, prefix, sh } from "./netns.test.helpers.js";
import { createLinkReaper } from "./reaper.js";
import { attachToNamespace, inNamespaceDo } from "./sandbox.js";
import { createVethPool } from "./veth-pool.js";

const hasCode = (code: string) => (error: unknown) => isTsnetError(error) && error.code === code;

async function rejects(work: Promise<unknown>, code: string): Promise<void> {
  try {
    await work;
  } catch (error) {
    assert.ok(hasCode(code)(error), `expected ${code}, got ${String(error)}`);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

/** Deletes go through a worker thread: poll until the link is gone (up to 2 s). */
async function eventuallyGone(link: string): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if ((await root.links.get(link)) === undefined) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

let root: NetlinkNamespace;
const name = (suffix: string) => `${prefix}${suffix}`;

const links = suite("NetlinkLinks (kernel)");
links.before(async () => {
  root = await openNamespace();
  await root.links.setUp("lo");
});
links.after(async () => {
  for (const link of await root.links.list()) if (link.name.startsWith(prefix)) await root.links.delete(link.name);
  await cleanupNamespaces();
  await root.close();
});

links("creates a bridge, returns the same one on replay, and deletes it twice without error", async () => {
  const created = await root.links.addBridge(name("br1"), { mtu: 1450, up: true });
  assert.is(created.kind, "bridge");
  assert.is(created.mtu, 1450);
  assert.ok(created.up);
  const again = await root.links.addBridge(name("br1"), { mtu: 1450 });
  assert.is(again.index, created.index);
  await root.links.delete(name("br1"));
  await root.links.delete(name("br1"));
  assert.is(await root.links.get(name("br1")), undefined);
});

links("stamps its link group on bridges and on both ends of a veth pair, and keeps it across a rename", async () => {
  const marked = await openNamespace(undefined, { linkGroup: 0x7354_0042 });
  try {
    const bridge = await marked.links.addBridge(name("gb"), { mtu: 1500 });
    await marked.links.addVethPair(name("gv"), name("gp"), { mtu: 1500, master: name("gb") });
    await root.links.rename(name("gp"), name("gq"));
    assert.is(bridge.group, 0x7354_0042);
    assert.is((await root.links.get(name("gv")))?.group, 0x7354_0042);
    assert.is((await root.links.get(name("gq")))?.group, 0x7354_0042);
    await root.links.addBridge(name("gz"), { mtu: 1500 });
    assert.is((await root.links.get(name("gz")))?.group, 0);
  } finally {
    for (const link of ["gv", "gb", "gz"]) await root.links.delete(name(link));
    await marked.close();
  }
});

links("answers CONFLICT when a bridge name is held by another kind of link", async () => {
  await root.links.addVethPair(name("cv"), name("cp"), { mtu: 1500 });
  await rejects(root.links.addBridge(name("cv"), { mtu: 1500 }), "CONFLICT");
  await root.links.delete(name("cv"));
});

links("creates a veth pair with its host end on a bridge, up, and both ends at the MTU, in one call", async () => {
  await root.links.addBridge(name("br2"), { mtu: 1400, up: true });
  await root.links.addVethPair(name("v1"), name("p1"), {
    mtu: 1400,
    master: name("br2"),
    up: true,
    peerMacAddress: "02:42:0a:00:00:09",
  });
  const host = await root.links.get(name("v1"));
  const peer = await root.links.get(name("p1"));
  assert.equal(
    host && {
      kind: host.kind,
      master: host.master,
      up: host.up,
      mtu: host.mtu,
      peer: host.kind === "veth" ? host.peer : "",
    },
    { kind: "veth", master: name("br2"), up: true, mtu: 1400, peer: name("p1") },
  );
  assert.is(peer?.mtu, 1400);
  assert.is(peer?.macAddress, "02:42:0a:00:00:09");
  assert.not.ok(peer?.up);
});

links("turns hairpin mode on for a new veth's bridge port; setHairpin turns it off and on", async () => {
  await root.links.addBridge(name("hb"), { mtu: 1500, up: true });
  await root.links.addVethPair(name("hv"), name("hp"), { mtu: 1500, master: name("hb"), up: true, hairpin: true });
  assert.is((await root.links.get(name("hv")))?.hairpin, true);
  // iproute2 reads the port flags another way (IFLA_PROTINFO of an AF_BRIDGE dump): an independent check.
  assert.match((await sh(`bridge -d link show dev ${name("hv")}`)).stdout, /hairpin on/);
  await root.links.setHairpin(name("hv"), false);
  assert.is((await root.links.get(name("hv")))?.hairpin, false);
  assert.match((await sh(`bridge -d link show dev ${name("hv")}`)).stdout, /hairpin off/);
  await root.links.setHairpin(name("hv"), true);
  assert.is((await root.links.get(name("hv")))?.hairpin, true);
  await root.links.addVethPair(name("nv"), name("np"), { mtu: 1500, master: name("hb"), up: true });
  assert.is((await root.links.get(name("nv")))?.hairpin, false, "off unless asked");
  assert.is((await root.links.get(name("hp")))?.hairpin, undefined, "no bridge port, no hairpin");
  await root.links.delete(name("hv"));
  await root.links.delete(name("nv"));
  await root.links.delete(name("hb"));
});

links("removes a new pair or a claimed link whose hairpin could not be set, and throws", async () => {
  await root.links.addBridge(name("fb"), { mtu: 1500, up: true });
  const realSetHairpin = root.links.setHairpin;
  root.links.setHairpin = () => Promise.reject(new TsnetError("INTERNAL", "hairpin refused (test)"));
  try {
    await rejects(
      root.links.addVethPair(name("fv"), name("fp"), { mtu: 1500, master: name("fb"), up: true, hairpin: true }),
      "INTERNAL",
    );
  } finally {
    root.links.setHairpin = realSetHairpin;
  }
  assert.is(await eventuallyGone(name("fv")), true, "the new pair is gone");
  // The claim sends its hairpin change as a second message in the same slot: make only that one fail.
  await root.links.addVethPair(name("fs"), name("fq"), { mtu: 1500 });
  const staged = await root.links.get(name("fs"));
  const rt = (root.links as unknown as { socket: { rt: { newLink: (...args: unknown[]) => Promise<unknown> } } }).socket
    .rt;
  const realNewLink = rt.newLink;
  rt.newLink = () => Promise.reject(Object.assign(new Error("EOPNOTSUPP (test)"), { errno: 95 }));
  try {
    await root.links.claim(staged?.index ?? 0, name("fc"), { master: name("fb"), up: true, hairpin: true }).then(
      () => assert.unreachable("the claim should fail"),
      (error: unknown) => assert.ok(isTsnetError(error)),
    );
  } finally {
    rt.newLink = realNewLink;
  }
  assert.is(await eventuallyGone(name("fc")), true, "the claimed link is gone");
  assert.is(await root.links.get(name("fs")), undefined, "it was claimed (renamed) before it went");
  assert.is(await root.links.get(name("fq")), undefined, "its peer went with it");
  await root.links.delete(name("fb"));
});

links("treats a replayed veth pair as success and a name held by a bridge as CONFLICT", async () => {
  await root.links.addVethPair(name("v1"), name("p1"), { mtu: 1400, master: name("br2"), up: true });
  await rejects(root.links.addVethPair(name("br2"), name("px"), { mtu: 1400 }), "CONFLICT");
});

links("answers NOT_FOUND for a missing bridge and a missing link", async () => {
  await rejects(root.links.addVethPair(name("v9"), name("p9"), { mtu: 1500, master: name("nobr") }), "NOT_FOUND");
  assert.is(await root.links.get(name("v9")), undefined);
  await rejects(root.links.setUp(name("none")), "NOT_FOUND");
  await rejects(root.addresses.add(name("none"), "10.1.2.3/24"), "NOT_FOUND");
});

links("refuses bad names before asking the kernel", async () => {
  await rejects(root.links.addBridge("a-name-that-is-too-long", { mtu: 1500 }), "INVALID_ARGUMENT");
  await rejects(root.links.addBridge("bad/name", { mtu: 1500 }), "INVALID_ARGUMENT");
});

links("fails with UNAVAILABLE, sending nothing, when the signal is already aborted", async () => {
  const controller = new AbortController();
  controller.abort();
  await rejects(root.links.addBridge(name("br3"), { mtu: 1500 }, controller.signal), "UNAVAILABLE");
  assert.is(await root.links.get(name("br3")), undefined);
});

links("creates the peer directly inside another namespace", async () => {
  const path = await makeNamespace("peer");
  await root.links.addVethPair(name("v2"), name("p2"), { mtu: 1500, peerNamespace: path });
  assert.is(await root.links.get(name("p2")), undefined);
  const inside = await inNamespaceDo(path, (ns) => ns.links.get(name("p2")));
  assert.is(inside?.kind, "veth");
});

links("moves a link into a namespace renamed, with its MAC and MTU, in one request", async () => {
  const path = await makeNamespace("move");
  await root.links.addVethPair(name("v3"), name("p3"), { mtu: 1500 });
  await root.links.moveToNamespace(name("p3"), path, undefined, {
    newName: "eth0",
    macAddress: "02:00:00:00:00:33",
    mtu: 1300,
  });
  assert.is(await root.links.get(name("p3")), undefined);
  const moved = await inNamespaceDo(path, (ns) => ns.links.get("eth0"));
  assert.equal(moved && [moved.macAddress, moved.mtu], ["02:00:00:00:00:33", 1300]);
});

links("adds v4 and v6 addresses idempotently, lists and removes them", async () => {
  await root.links.addBridge(name("br4"), { mtu: 1500, up: true });
  for (const cidr of ["10.91.0.1/24", "10.91.0.1/24", "fd91::1/64", "fd91::1/64"])
    await root.addresses.add(name("br4"), cidr);
  const listed = await root.addresses.list(name("br4"));
  assert.ok(listed.includes("10.91.0.1/24") && listed.includes("fd91::1/64"), listed.join());
  await root.addresses.remove(name("br4"), "10.91.0.1/24");
  await root.addresses.remove(name("br4"), "10.91.0.1/24");
  assert.not.ok((await root.addresses.list(name("br4"))).includes("10.91.0.1/24"));
  assert.equal(await root.addresses.list(name("gone")), []);
});

links("adds, lists and removes routes, both families, idempotently", async () => {
  await root.addresses.add(name("br4"), "10.91.0.1/24");
  const v4 = { destination: "10.92.0.0/16", gateway: "10.91.0.254" };
  const v6 = { destination: "fd92::/64", gateway: "fd91::fe" };
  await root.routes.add(v4);
  await root.routes.add(v4);
  await root.routes.add(v6);
  const listed = await root.routes.list();
  assert.ok(
    listed.some((r) => r.destination === "10.92.0.0/16" && r.gateway === "10.91.0.254" && r.link === name("br4")),
  );
  assert.ok(listed.some((r) => r.destination === "fd92::/64" && r.gateway === "fd91::fe"));
  await root.routes.remove(v4);
  await root.routes.remove(v4);
  await root.routes.remove(v6);
  assert.not.ok((await root.routes.list()).some((r) => r.destination === "10.92.0.0/16"));
});

links("creates vxlan and macvlan links with their parameters", async () => {
  await root.links.addBridge(name("br5"), { mtu: 1500, up: true });
  const vxlan = await root.links.addVxlan(name("vx"), { vni: 4242, port: 4789, mtu: 1450 });
  assert.equal(vxlan.kind === "vxlan" && [vxlan.vni, vxlan.port, vxlan.mtu], [4242, 4789, 1450]);
  const macvlan = await root.links.addMacvlan(name("mv"), { parent: name("br5"), mode: "bridge", mtu: 1500 });
  assert.equal(macvlan.kind === "macvlan" && macvlan.parent, name("br5"));
});

links("attaches an endpoint like Docker's SetKey, and the namespace pings its gateway", async () => {
  await root.links.addBridge(name("br6"), { mtu: 1500, up: true });
  await root.addresses.add(name("br6"), "10.93.0.1/24");
  const container = await makeContainer(root, "c1", name("br6"), "10.93.0.2/24", "10.93.0.1");
  assert.ok(await ping(container, "10.93.0.1"));
  const routes = (await sh(`ip netns exec ${container} ip route`)).stdout;
  assert.match(routes, /default via 10\.93\.0\.1 dev eth0/);
});

links("undoes the move when attaching fails midway", async () => {
  const path = await makeNamespace("undo");
  await root.links.addVethPair(name("v7"), name("p7"), { mtu: 1500 });
  let failed: unknown;
  try {
    // A gateway outside every subnet of the interface: the kernel refuses the default route (ENETUNREACH).
    await attachToNamespace(root.links, path, { link: name("p7"), addresses: ["10.94.0.2/24"], gateway: "10.200.0.1" });
  } catch (error) {
    failed = error;
  }
  assert.ok(isTsnetError(failed), String(failed));
  assert.is(await inNamespaceDo(path, (ns) => ns.links.get("eth0")), undefined);
  assert.is(await root.links.get(name("v7")), undefined);
});

links("the reaper deletes queued veth pairs in batches and drains", async () => {
  const names = Array.from({ length: 30 }, (_, i) => name(`r${i}`));
  for (const host of names) await root.links.addVethPair(host, `${host}p`, { mtu: 1500 });
  const reaper = createLinkReaper(root.links);
  const started = performance.now();
  for (const host of names) reaper.enqueue(host);
  const enqueueMs = performance.now() - started;
  await reaper.drain();
  const left = (await root.links.list()).filter((link) => link.name.startsWith(name("r")));
  assert.equal(left, []);
  assert.ok(enqueueMs < 5, `enqueue took ${enqueueMs} ms`);
});

links.run();

const neighbours = suite("NetlinkNeighbours (kernel)");
let handle: NetlinkNamespace;
neighbours.before(async () => {
  handle = await openNamespace();
});
neighbours.after(async () => {
  for (const link of await handle.links.list()) if (link.name.startsWith(prefix)) await handle.links.delete(link.name);
  await handle.close();
});

neighbours("adds a permanent neighbour idempotently, lists it and removes it twice", async () => {
  await handle.links.addBridge(name("nb"), { mtu: 1500, up: true });
  const entry = { link: name("nb"), ip: "10.97.0.5", macAddress: "02:00:00:00:00:05" };
  await handle.neighbours.addNeighbour(entry);
  await handle.neighbours.addNeighbour(entry);
  assert.equal(await handle.neighbours.listNeighbours(name("nb")), [entry]);
  await handle.neighbours.removeNeighbour(entry);
  await handle.neighbours.removeNeighbour(entry);
  assert.equal(await handle.neighbours.listNeighbours(name("nb")), []);
});

neighbours("programs VXLAN FDB entries (a flood entry per remote and a unicast MAC), removable twice", async () => {
  await handle.links.addVxlan(name("vf"), { vni: 77, port: 4789, mtu: 1450 });
  await handle.neighbours.addFdb({ link: name("vf"), macAddress: "00:00:00:00:00:00", destination: "192.0.2.7" });
  await handle.neighbours.addFdb({ link: name("vf"), macAddress: "00:00:00:00:00:00", destination: "192.0.2.7" });
  await handle.neighbours.addFdb({ link: name("vf"), macAddress: "02:00:00:00:00:07", destination: "192.0.2.8" });
  const shown = (await sh(`bridge fdb show dev ${name("vf")}`)).stdout;
  assert.match(shown, /00:00:00:00:00:00 dst 192\.0\.2\.7 self permanent/);
  assert.match(shown, /02:00:00:00:00:07 dst 192\.0\.2\.8 self permanent/);
  for (let i = 0; i < 2; i++) {
    await handle.neighbours.removeFdb({ link: name("vf"), macAddress: "02:00:00:00:00:07", destination: "192.0.2.8" });
  }
  assert.not.match((await sh(`bridge fdb show dev ${name("vf")}`)).stdout, /02:00:00:00:00:07/);
});

neighbours("serves concurrent dumps and changes on one socket without mixing their replies", async () => {
  await handle.links.addBridge(name("cb"), { mtu: 1500, up: true });
  const work: Promise<unknown>[] = [];
  for (let i = 0; i < 20; i++) {
    work.push(handle.links.list());
    work.push(handle.links.addVethPair(name(`cc${i}`), name(`cq${i}`), { mtu: 1500, master: name("cb"), up: true }));
    work.push(handle.routes.list());
  }
  await Promise.all(work);
  const made = (await handle.links.list()).filter((link) => link.name.startsWith(name("cc")));
  assert.is(made.length, 20);
});

neighbours.run();

const events = suite("watchLinks (kernel)");

events("reports a bridge being created and deleted", async () => {
  const seen: string[] = [];
  const watch = watchLinks((event) => {
    if (event.name === name("ev")) seen.push(`${event.type}:${event.kind ?? "?"}`);
  });
  const local = await openNamespace();
  try {
    await local.links.addBridge(name("ev"), { mtu: 1500 });
    await local.links.delete(name("ev"));
    for (let i = 0; i < 50 && !seen.some((entry) => entry.startsWith("deleted")); i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } finally {
    watch.close();
    await local.close();
  }
  assert.is(seen[0], "added-or-changed:bridge");
  assert.ok(seen.includes("deleted:bridge"), seen.join());
});

events.run();

const pool = suite("createVethPool (kernel)");
let poolHandle: NetlinkNamespace;
pool.before(async () => {
  poolHandle = await openNamespace();
  await poolHandle.links.addBridge(name("pb"), { mtu: 1500, up: true });
});
pool.after(async () => {
  for (const link of await poolHandle.links.list())
    if (link.name.startsWith(prefix)) await poolHandle.links.delete(link.name);
  await poolHandle.close();
});

pool(
  "hands out ready pairs already on the bridge, up, at the MTU, with no kernel request; refills behind",
  async () => {
    const subject = createVethPool(poolHandle.links, {
      size: 3,
      hostPrefix: `${prefix}q`,
      peerPrefix: `${prefix}r`,
      refillDelayMs: 200,
    });
    const attachment = { mtu: 1400, master: name("pb"), hairpin: true };
    await subject.fill(attachment);
    const key = `1400/${name("pb")}/hairpin`;
    assert.is(subject.ready.get(key), 3);
    const before = (await poolHandle.links.list()).length;
    const pair = await subject.take(attachment);
    assert.ok(subject.owns(pair.host) && subject.owns(pair.peer));
    assert.is((await poolHandle.links.list()).length, before, "taking a ready pair made no link");
    const host = await poolHandle.links.get(pair.host);
    assert.equal(host && host.kind === "veth" && [host.master, host.up, host.mtu, host.peer, host.hairpin], [
      name("pb"),
      true,
      1400,
      pair.peer,
      true,
    ]);
    assert.match((await sh(`bridge -d link show dev ${pair.host}`)).stdout, /hairpin on/);
    const peer = await poolHandle.links.get(pair.peer);
    assert.equal([peer?.mtu, peer?.up], [1400, false]);
    assert.is(subject.ready.get(key), 2);
    for (let i = 0; i < 50 && subject.ready.get(key) !== 3; i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    assert.is(subject.ready.get(key), 3);
    await subject.close();
    const left = (await poolHandle.links.list()).filter((link) => link.name.startsWith(`${prefix}q`));
    assert.equal(
      left.map((link) => link.name),
      [pair.host],
      "close deletes the ready pairs, not the one handed out",
    );
    await poolHandle.links.delete(pair.host);
  },
);

pool("makes a pair on the spot when none is ready for that attachment", async () => {
  const subject = createVethPool(poolHandle.links, { size: 1, hostPrefix: `${prefix}q`, peerPrefix: `${prefix}r` });
  const pair = await subject.take({ mtu: 1300, master: name("pb"), hairpin: true });
  const host = await poolHandle.links.get(pair.host);
  assert.equal([host?.master, host?.up, host?.mtu, host?.hairpin], [name("pb"), true, 1300, true]);
  assert.is((await poolHandle.links.get(pair.peer))?.mtu, 1300);
  await subject.close();
  await poolHandle.links.delete(pair.host);
});

pool("discard deletes the ready pairs of one bridge only, also while a fill runs", async () => {
  await poolHandle.links.addBridge(name("pc"), { mtu: 1500, up: true });
  const subject = createVethPool(poolHandle.links, { size: 2, hostPrefix: `${prefix}q`, peerPrefix: `${prefix}r` });
  await subject.fill({ mtu: 1500, master: name("pb") });
  const filling = subject.fill({ mtu: 1500, master: name("pc") });
  await subject.discard(name("pc"));
  await filling;
  const ports = async (bridge: string) =>
    (await poolHandle.links.list()).filter((link) => link.master === bridge && link.name.startsWith(`${prefix}q`));
  for (let i = 0; i < 100 && (await ports(name("pc"))).length > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.is((await ports(name("pc"))).length, 0);
  assert.is((await ports(name("pb"))).length, 2);
  assert.equal([...subject.ready.values()], [2]);
  await subject.close();
  await poolHandle.links.delete(name("pc"));
});

pool.run();

import { isTsnetError, TsnetError } from "@tsnet/protocol";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { MemoryFirewall, MemoryHost, MemoryNamespace } from "./testing.js";

async function code(work: Promise<unknown>): Promise<string> {
  try {
    await work;
    return "ok";
  } catch (error) {
    return isTsnetError(error) ? error.code : String(error);
  }
}

const fakes = suite("kernel fakes");

fakes("behave like the kernel: EEXIST, missing links, long names, idempotent delete", async () => {
  const { links, addresses } = new MemoryNamespace();
  await links.addBridge("br0", { mtu: 1500 });
  assert.is(await code(links.addBridge("br0", { mtu: 1500 })), "ok");
  await links.addVethPair("v0", "p0", { mtu: 1500 });
  assert.is(await code(links.addBridge("v0", { mtu: 1500 })), "CONFLICT");
  assert.is(await code(links.addVethPair("v1", "p0", { mtu: 1500 })), "CONFLICT");
  assert.is(await code(links.addVethPair("v0", "p0", { mtu: 1500 })), "ok");
  assert.is(await code(links.addBridge("a-name-of-16-chr", { mtu: 1500 })), "INVALID_ARGUMENT");
  assert.is(await code(links.setMaster("nope", "br0")), "NOT_FOUND");
  assert.is(await code(links.setMtu("v0", 40)), "INVALID_ARGUMENT");
  assert.is(await code(addresses.add("nope", "10.0.0.1/24")), "NOT_FOUND");
  assert.is(await code(links.delete("nope")), "ok");
});

fakes("deleting one veth end deletes both, its addresses, and frees its bridge port", async () => {
  const { links, addresses } = new MemoryNamespace();
  await links.addBridge("br0", { mtu: 1500 });
  await links.addVethPair("v0", "p0", { mtu: 1400, master: "br0", up: true });
  await addresses.add("p0", "10.0.0.2/24");
  await links.delete("p0");
  assert.equal(
    links.snapshot().map((link) => link.name),
    ["br0"],
  );
  assert.equal(addresses.snapshot(), {});
});

fakes("peers moved to another namespace, renamed, still go with their host end", async () => {
  const host = new MemoryHost();
  const sandbox = host.namespace("/run/netns/x");
  await host.root.links.addVethPair("v0", "p0", { mtu: 1500, peerMacAddress: "02:42:0a:00:00:02" });
  await host.root.links.moveToNamespace("p0", "/run/netns/x", undefined, { newName: "eth0" });
  const moved = sandbox.links.snapshot()[0];
  assert.equal([moved?.name, moved?.macAddress], ["eth0", "02:42:0a:00:00:02"]);
  await host.root.links.delete("v0");
  assert.equal(sandbox.links.snapshot(), []);
});

fakes("failOn fails the chosen calls only: skip, times, then clear", async () => {
  const { links } = new MemoryNamespace();
  links.failOn("addBridge", new TsnetError("UNAVAILABLE", "x"), { skip: 1, times: 1 });
  assert.is(await code(links.addBridge("b1", { mtu: 1500 })), "ok");
  assert.is(await code(links.addBridge("b2", { mtu: 1500 })), "UNAVAILABLE");
  assert.is(await code(links.addBridge("b3", { mtu: 1500 })), "ok");
  links.failOn("setUp", new TsnetError("UNAVAILABLE", "x"));
  assert.is(await code(links.setUp("b1")), "UNAVAILABLE");
  assert.is(await code(links.setUp("b1")), "UNAVAILABLE");
  links.clearFailures();
  assert.is(await code(links.setUp("b1")), "ok");
});

fakes("MemoryFirewall keeps the last applied state; a failed apply keeps the one before", async () => {
  const firewall = new MemoryFirewall();
  const network = {
    id: "n1",
    bridge: "br0",
    subnets: ["10.0.0.0/24"],
    internal: false,
    masquerade: true,
    icc: true,
    publishes: [],
  };
  await firewall.apply([network]);
  firewall.failOn("apply", new TsnetError("UNAVAILABLE", "x"), { times: 1 });
  assert.is(await code(firewall.apply([])), "UNAVAILABLE");
  assert.equal(firewall.state, [network]);
  assert.is(firewall.applies, 1);
  await firewall.flush();
  assert.equal(firewall.state, []);
});

fakes.run();

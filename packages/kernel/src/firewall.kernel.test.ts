import { type ChildProcess, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { FirewallNetwork } from "./firewall.js";
import type { FirewallNames } from "./firewall-render.js";
import { type NetlinkNamespace, openNamespace } from "./namespace.js";
import { cleanupNamespaces, makeContainer, nsPath, ping, prefix, sh } from "./netns.test.helpers.js";
import { NftFirewall } from "./nft-firewall.js";
import { inNamespaceDo } from "./sandbox.js";

const names: FirewallNames = { table: prefix, chain: `${prefix.toUpperCase()}-FWD`, comment: prefix };
const bridgeA = `${prefix}a`;
const bridgeB = `${prefix}b`;
let root: NetlinkNamespace;
let firewall: NftFirewall;
let c1: string;
let c2: string;
let c3: string;
let outside: string;
let server: ChildProcess | undefined;

function networkA(overrides: Partial<FirewallNetwork> = {}): FirewallNetwork {
  return {
    id: "a".repeat(64),
    bridge: bridgeA,
    subnets: ["10.95.1.0/24"],
    internal: false,
    masquerade: true,
    icc: true,
    publishes: [],
    ...overrides,
  };
}
function networkB(overrides: Partial<FirewallNetwork> = {}): FirewallNetwork {
  return { ...networkA(), id: "b".repeat(64), bridge: bridgeB, subnets: ["10.95.2.0/24"], ...overrides };
}
const publish80 = { proto: "tcp" as const, hostIp: "", hostPort: 8080, containerIp: "10.95.1.2", containerPort: 80 };

async function fetchVia(ns: string | undefined, address: string, port: number): Promise<string> {
  const where = ns === undefined ? "" : `ip netns exec ${ns} `;
  return (await sh(`${where}busybox nc -w 2 ${address} ${port} </dev/null`)).stdout.trim();
}

const fw = suite("NftFirewall (kernel)");

fw.before(async () => {
  root = await openNamespace();
  await root.links.setUp("lo");
  await writeFile("/proc/sys/net/ipv4/ip_forward", "1");
  for (const [bridge, gateway] of [
    [bridgeA, "10.95.1.1/24"],
    [bridgeB, "10.95.2.1/24"],
  ] as const) {
    await root.links.addBridge(bridge, { mtu: 1500, up: true });
    await root.addresses.add(bridge, gateway);
  }
  c1 = await makeContainer(root, "c1", bridgeA, "10.95.1.2/24", "10.95.1.1");
  c2 = await makeContainer(root, "c2", bridgeA, "10.95.1.3/24", "10.95.1.1");
  c3 = await makeContainer(root, "c3", bridgeB, "10.95.2.2/24", "10.95.2.1");
  // "The outside world": a namespace behind an uplink, with no route back to the bridges' subnets.
  const uplink = `${prefix}up`;
  outside = `${prefix}-out`;
  await sh(`ip netns add ${outside}`);
  await root.links.addVethPair(uplink, `${prefix}upp`, { mtu: 1500, up: true });
  await root.addresses.add(uplink, "192.0.2.1/24");
  const { attachToNamespace } = await import("./sandbox.js");
  await attachToNamespace(root.links, nsPath(outside), { link: `${prefix}upp`, addresses: ["192.0.2.2/24"] });
  server = spawn("nsenter", [`--net=${nsPath(c1)}`, "busybox", "nc", "-ll", "-p", "80", "-e", "/bin/echo", "hello"], {
    stdio: "ignore",
  });
  firewall = new NftFirewall({ names });
});

fw.after(async () => {
  if (server?.pid !== undefined) process.kill(server.pid);
  await firewall.flush().catch(() => {});
  await sh(`ip netns delete ${outside}`);
  await cleanupNamespaces();
  await root.close();
});

fw("without rules, containers on two bridges reach each other (the control for the isolation test)", async () => {
  assert.ok(await ping(c1, "10.95.2.2"));
});

fw("writes our tables, read back with nft", async () => {
  await firewall.apply([networkA(), networkB()]);
  const listed = (await sh(`nft list table inet ${prefix}`)).stdout;
  assert.match(listed, new RegExp(`iifname "${bridgeA}" oifname != "${bridgeA}" oifname @bridges drop`));
  const nat = (await sh(`nft list table ip ${prefix}-nat`)).stdout;
  assert.match(nat, /ip saddr 10\.95\.1\.0\/24 oifname != "tst[0-9a-f]{4}a" masquerade/);
});

fw("isolates two tsnet networks but keeps a network's own members talking", async () => {
  await firewall.apply([networkA(), networkB()]);
  assert.not.ok(await ping(c1, "10.95.2.2"));
  assert.ok(await ping(c1, "10.95.1.3"));
});

fw("masquerades traffic leaving the host (the outside has no route back)", async () => {
  await firewall.apply([networkA(), networkB()]);
  assert.ok(await ping(c1, "192.0.2.2"));
  await firewall.apply([networkA({ masquerade: false }), networkB()]);
  assert.not.ok(await ping(c1, "192.0.2.2"));
});

fw("icc=false blocks traffic between members of one network, not to the gateway", async () => {
  await firewall.apply([networkA({ icc: false }), networkB()]);
  assert.not.ok(await ping(c1, "10.95.1.3"));
  assert.ok(await ping(c1, "10.95.1.1"));
  await firewall.apply([networkA(), networkB()]);
  assert.ok(await ping(c1, "10.95.1.3"));
});

fw("an internal network has no way out", async () => {
  await firewall.apply([networkA(), networkB({ internal: true })]);
  assert.not.ok(await ping(c3, "192.0.2.2"));
  await firewall.apply([networkA(), networkB()]);
  assert.ok(await ping(c3, "192.0.2.2"));
});

fw("a published port is reached from the host (localhost and its address), outside and another network", async () => {
  await firewall.apply([networkA({ publishes: [publish80] }), networkB()]);
  assert.is(await fetchVia(undefined, "127.0.0.1", 8080), "hello");
  assert.is(await fetchVia(undefined, "192.0.2.1", 8080), "hello");
  assert.is(await fetchVia(outside, "192.0.2.1", 8080), "hello");
  assert.is(await fetchVia(c3, "10.95.2.1", 8080), "hello");
  assert.is(await fetchVia(c2, "10.95.1.1", 8080), "hello");
});

fw("a port bound to 127.0.0.1 is not reachable from outside", async () => {
  await firewall.apply([networkA({ publishes: [{ ...publish80, hostIp: "127.0.0.1" }] }), networkB()]);
  assert.is(await fetchVia(undefined, "127.0.0.1", 8080), "hello");
  assert.is(await fetchVia(outside, "192.0.2.1", 8080), "");
});

fw("with Docker's FORWARD policy DROP, our DOCKER-USER accepts let traffic through, and are restored", async () => {
  // What a running dockerd leaves in table ip filter.
  await sh(
    "iptables -N DOCKER-USER && iptables -A DOCKER-USER -j RETURN && iptables -P FORWARD DROP && iptables -A FORWARD -j DOCKER-USER",
  );
  try {
    const bare = new NftFirewall({ names, dockerUser: false });
    await bare.apply([networkA({ publishes: [publish80] }), networkB()]);
    assert.not.ok(await ping(c1, "10.95.1.3"), "Docker's DROP policy applies to bridged traffic");
    await firewall.apply([networkA({ publishes: [publish80] }), networkB()]);
    assert.ok(await ping(c1, "10.95.1.3"));
    assert.ok(await ping(c1, "192.0.2.2"));
    assert.is(await fetchVia(outside, "192.0.2.1", 8080), "hello");
    assert.not.ok(await ping(c1, "10.95.2.2"));
    assert.is(await firewall.ensureDockerUser(), false);
    // dockerd restarting rebuilds its chains: our jump is gone until ensureDockerUser puts it back.
    await sh("iptables -F DOCKER-USER && iptables -A DOCKER-USER -j RETURN");
    assert.not.ok(await ping(c1, "192.0.2.2"));
    assert.is(await firewall.ensureDockerUser(), true);
    assert.ok(await ping(c1, "192.0.2.2"));
    // The same repair, done by the periodic watch.
    const stop = firewall.watchDockerUser(20);
    await sh("iptables -F DOCKER-USER && iptables -A DOCKER-USER -j RETURN");
    await new Promise((resolve) => setTimeout(resolve, 300));
    stop();
    assert.ok(await ping(c1, "192.0.2.2"));
  } finally {
    await firewall.flush();
    await sh("iptables -P FORWARD ACCEPT && iptables -F FORWARD && iptables -F DOCKER-USER && iptables -X DOCKER-USER");
  }
});

fw("coalesces a burst of applies into at most two nft runs, ending in the last state", async () => {
  await firewall.flush();
  let runs = 0;
  const logger = {
    debug: (_: Record<string, unknown>, message: string) => {
      if (message === "firewall applied") runs++;
    },
    info() {},
    warn() {},
    error() {},
    child: () => logger,
  };
  const counted = new NftFirewall({ names, logger });
  // The last state (i = 19) has icc=false on network A.
  const burst = Array.from({ length: 20 }, (_, i) => counted.apply([networkA({ icc: i % 2 === 0 }), networkB()]));
  await Promise.all(burst);
  assert.ok(runs <= 2, `${runs} nft runs`);
  const listed = (await sh(`nft list table inet ${prefix}`)).stdout;
  assert.match(listed, new RegExp(`iifname "${bridgeA}" oifname "${bridgeA}" drop`));
  await counted.flush();
});

fw("IPv6: isolation, icc and masquerade apply to v6 subnets as to v4", async () => {
  await firewall.flush();
  const add = async (ns: string, cidr: string, gateway: string) =>
    inNamespaceDo(nsPath(ns), async (inside) => {
      await inside.addresses.add("eth0", cidr);
      await inside.routes.add({ destination: "default6", gateway });
    });
  await root.addresses.add(bridgeA, "fd95:1::1/64");
  await root.addresses.add(bridgeB, "fd95:2::1/64");
  await root.addresses.add(`${prefix}up`, "2001:db8:95::1/64");
  await add(c1, "fd95:1::2/64", "fd95:1::1");
  await add(c2, "fd95:1::3/64", "fd95:1::1");
  await add(c3, "fd95:2::2/64", "fd95:2::1");
  await inNamespaceDo(nsPath(outside), (inside) => inside.addresses.add("eth0", "2001:db8:95::2/64"));
  await writeFile("/proc/sys/net/ipv6/conf/all/forwarding", "1");
  assert.ok(await ping(c1, "fd95:2::2"), "control: without rules the two networks reach each other");
  const v6 = (network: FirewallNetwork, subnet: string) => ({ ...network, subnets: [...network.subnets, subnet] });
  await firewall.apply([v6(networkA(), "fd95:1::/64"), v6(networkB(), "fd95:2::/64")]);
  assert.ok(await ping(c1, "fd95:1::3"));
  assert.not.ok(await ping(c1, "fd95:2::2"));
  assert.ok(await ping(c1, "2001:db8:95::2"), "masqueraded: the outside has no route back to fd95:1::/64");
  await firewall.apply([v6(networkA({ icc: false }), "fd95:1::/64"), v6(networkB(), "fd95:2::/64")]);
  assert.not.ok(await ping(c1, "fd95:1::3"));
  assert.ok(await ping(c1, "fd95:1::1"));
});

fw("flush removes every table and chain of ours", async () => {
  await firewall.apply([networkA({ publishes: [publish80] }), networkB()]);
  await firewall.flush();
  const tables = (await sh("nft list tables")).stdout;
  assert.not.match(tables, new RegExp(prefix));
});

fw.run();

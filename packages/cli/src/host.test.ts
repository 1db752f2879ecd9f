import { suite } from "uvu";
import * as assert from "uvu/assert";
import { findOrphans, ourJumps, parseIpLinks } from "./host.js";
import type { NetworkView } from "./state-view.js";

const IP_LINK = [
  "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback",
  "5: tsbr-aaaaaaaaaa: <BROADCAST,UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000\\    link/ether",
  "6: tsve-bbbbbbbbbb@if7: <BROADCAST,UP> mtu 1500 master tsbr-aaaaaaaaaa state UP mode DEFAULT group default\\    link/ether",
  "8: tsbr-cccccccccc: <BROADCAST> mtu 1500 qdisc noop state DOWN mode DEFAULT group default qlen 1000\\    link/ether",
  "9: tsvq-dddddddddd@tsvp-dddddddddd: <BROADCAST> mtu 1500 state DOWN mode DEFAULT group default\\    link/ether",
  "10: tsvp-dddddddddd@tsvq-dddddddddd: <BROADCAST> mtu 1500 state DOWN mode DEFAULT group default\\    link/ether",
  "11: tsbr-eeeeeeeeee: <BROADCAST> mtu 1500 state DOWN mode DEFAULT group 74565 qlen 1000\\    link/ether",
  "12: docker0: <BROADCAST> mtu 1500 state DOWN mode DEFAULT group default qlen 1000\\    link/ether",
].join("\n");

const NETWORK: NetworkView = {
  id: "a".repeat(64),
  bridge: "tsbr-aaaaaaaaaa",
  mtu: 1500,
  internal: false,
  icc: true,
  masquerade: true,
  subnets: ["10.1.0.0/24"],
  gateways: ["10.1.0.1/24"],
  endpoints: [
    {
      id: "b".repeat(64),
      networkId: "a".repeat(64),
      hostVeth: "tsve-bbbbbbbbbb",
      peerVeth: "tsvp-bbbbbbbbbb",
      address: "10.1.0.2/24",
      addressIpv6: "",
      macAddress: "",
      published: [],
    },
  ],
};

const test = suite("host scan");

test("parseIpLinks reads names, same-namespace peers and link groups", () => {
  const links = parseIpLinks(IP_LINK);
  assert.equal(links[2], { name: "tsve-bbbbbbbbbb", group: 0 });
  assert.equal(links[4], { name: "tsvq-dddddddddd", group: 0, peer: "tsvp-dddddddddd" });
  assert.equal(links[6], { name: "tsbr-eeeeeeeeee", group: 74565 });
});

test("orphans: unowned tsnet links of our group; owned links, other groups and other prefixes are left alone", () => {
  const links = parseIpLinks(IP_LINK);
  const withDaemon = findOrphans([NETWORK], { links, tables: [], dockerUser: [] }, { daemonRunning: true });
  assert.equal(
    withDaemon.map((orphan) => orphan.name),
    ["tsbr-cccccccccc"],
  );
  // without a daemon the veth pool's ready pair is a leftover too
  const offline = findOrphans([NETWORK], { links, tables: [], dockerUser: [] }, { daemonRunning: false });
  assert.equal(
    offline.map((orphan) => orphan.name),
    ["tsbr-cccccccccc", "tsvq-dddddddddd", "tsvp-dddddddddd"],
  );
  const otherDaemon = findOrphans(
    [],
    { links, tables: [], dockerUser: [] },
    {
      daemonRunning: true,
      scope: { firewallNames: { table: "tsnet-x", chain: "TSNET-X", comment: "tsnet-x" }, linkGroup: 74565 },
    },
  );
  assert.equal(
    otherDaemon.map((orphan) => orphan.name),
    ["tsbr-eeeeeeeeee"],
  );
});

test("tables and the DOCKER-USER jump are orphans only while no network is stored, and only our names", () => {
  const host = {
    links: [],
    tables: ["ip filter", "inet tsnet", "ip tsnet-nat", "inet tsnet-1234abcd"],
    dockerUser: [
      "-N DOCKER-USER",
      "-A DOCKER-USER -m comment --comment tsnet -j TSNET-FORWARD",
      "-A DOCKER-USER -m comment --comment tsnet-1234abcd -j TSNET-1234ABCD",
      "-A DOCKER-USER -j RETURN",
    ],
  };
  assert.equal(findOrphans([NETWORK], host, { daemonRunning: true }), []);
  assert.equal(
    findOrphans([], host, { daemonRunning: true }).map((orphan) => `${orphan.kind} ${orphan.name}`),
    ["table inet tsnet", "table ip tsnet-nat", "jump -A DOCKER-USER -m comment --comment tsnet -j TSNET-FORWARD"],
  );
  assert.equal(
    ourJumps(host.dockerUser, { table: "tsnet-1234abcd", chain: "TSNET-1234ABCD", comment: "tsnet-1234abcd" }),
    ["-A DOCKER-USER -m comment --comment tsnet-1234abcd -j TSNET-1234ABCD"],
  );
});

test.run();

import { isTsnetError } from "@tsnet/protocol";
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { FirewallNetwork } from "./firewall.js";
import { renderDockerUserRules, renderRuleset } from "./firewall-render.js";

function network(overrides: Partial<FirewallNetwork> = {}): FirewallNetwork {
  return {
    id: "0123456789ab".repeat(5).slice(0, 64),
    bridge: "tsbr-a",
    subnets: ["10.81.0.0/24"],
    internal: false,
    masquerade: true,
    icc: true,
    publishes: [],
    ...overrides,
  };
}

const rendering = suite("renderRuleset");

rendering("replaces each tsnet table atomically: declared, deleted, then written in one script", () => {
  const script = renderRuleset([network()]);
  assert.match(script, /^table inet tsnet\ndelete table inet tsnet\n/);
  assert.match(script, /table ip tsnet-nat\ndelete table ip tsnet-nat/);
  assert.match(script, /table ip6 tsnet-nat\ndelete table ip6 tsnet-nat/);
});

rendering("with no networks only deletes the tables", () => {
  assert.not.match(renderRuleset([]), /\{/);
});

rendering("masquerades a network's subnet leaving through any other interface", () => {
  assert.match(renderRuleset([network()]), /ip saddr 10\.81\.0\.0\/24 oifname != "tsbr-a" masquerade/);
});

rendering("does not masquerade internal networks nor masquerade=false ones", () => {
  assert.not.match(renderRuleset([network({ internal: true })]), /saddr 10\.81\.0\.0\/24 .*masquerade/);
  assert.not.match(renderRuleset([network({ masquerade: false })]), /saddr 10\.81\.0\.0\/24 .*masquerade/);
});

rendering("drops everything between an internal bridge and other interfaces, both ways", () => {
  const script = renderRuleset([network({ internal: true })]);
  assert.match(script, /iifname "tsbr-a" oifname != "tsbr-a" drop/);
  assert.match(script, /oifname "tsbr-a" iifname != "tsbr-a" drop/);
});

rendering("drops bridge-to-same-bridge traffic only when icc is false", () => {
  assert.match(renderRuleset([network({ icc: false })]), /iifname "tsbr-a" oifname "tsbr-a" drop/);
  assert.not.match(renderRuleset([network({ icc: true })]), /iifname "tsbr-a" oifname "tsbr-a" drop/);
});

rendering("isolates tsnet bridges from each other and from Docker's bridges both ways", () => {
  const script = renderRuleset([network(), network({ bridge: "tsbr-b", subnets: ["10.82.0.0/24"] })]);
  assert.match(script, /elements = \{ "tsbr-a", "tsbr-b" \}/);
  assert.match(script, /iifname "tsbr-a" oifname != "tsbr-a" oifname @bridges drop/);
  assert.match(script, /iifname "tsbr-b" oifname != "tsbr-b" oifname "docker0" drop/);
  assert.match(script, /oifname "tsbr-b" iifname != "tsbr-b" iifname "br-\*" drop/);
});

rendering("publishes a port with DNAT reached from prerouting and output, and hairpin masquerade", () => {
  const script = renderRuleset([
    network({
      publishes: [
        { proto: "tcp", hostIp: "", hostPort: 8080, containerIp: "10.81.0.2", containerPort: 80 },
        { proto: "udp", hostIp: "127.0.0.1", hostPort: 5353, containerIp: "10.81.0.2", containerPort: 53 },
      ],
    }),
  ]);
  assert.match(script, /\n {4}tcp dport 8080 dnat to 10\.81\.0\.2:80\n/);
  assert.match(script, /ip daddr 127\.0\.0\.1 udp dport 5353 dnat to 10\.81\.0\.2:53/);
  assert.match(script, /type nat hook output priority -100; policy accept;\n {4}fib daddr type local jump publish/);
  assert.match(script, /oifname "tsbr-a" fib saddr type local masquerade/);
  assert.match(script, /ip saddr 10\.81\.0\.2 ip daddr 10\.81\.0\.2 tcp dport 80 masquerade/);
});

rendering("treats 0.0.0.0 and :: host IPs as any address", () => {
  const script = renderRuleset([
    network({
      subnets: ["10.81.0.0/24", "fd81::/64"],
      publishes: [
        { proto: "tcp", hostIp: "0.0.0.0", hostPort: 8080, containerIp: "10.81.0.2", containerPort: 80 },
        { proto: "tcp", hostIp: "::", hostPort: 8080, containerIp: "fd81::2", containerPort: 80 },
      ],
    }),
  ]);
  assert.match(script, /\n {4}tcp dport 8080 dnat to 10\.81\.0\.2:80\n/);
  assert.match(script, /\n {4}tcp dport 8080 dnat to \[fd81::2\]:80\n/);
});

rendering("puts IPv6 masquerade in the ip6 table only for v6 subnets", () => {
  const script = renderRuleset([network({ subnets: ["10.81.0.0/24", "fd81::/64"] })]);
  assert.match(script, /ip6 saddr fd81::\/64 oifname != "tsbr-a" masquerade/);
  assert.not.match(renderRuleset([network()]), /ip6 saddr/);
});

rendering("refuses names, addresses and ports that could break or inject into the script", () => {
  const isInvalid = (error: unknown) => isTsnetError(error) && error.code === "INVALID_ARGUMENT";
  assert.throws(() => renderRuleset([network({ bridge: 'x" accept; #' })]), isInvalid);
  assert.throws(() => renderRuleset([network({ bridge: "a-name-longer-than-15" })]), isInvalid);
  assert.throws(() => renderRuleset([network({ subnets: ["10.0.0.0/33"] })]), isInvalid);
  const publish = { proto: "tcp" as const, hostIp: "", hostPort: 0, containerIp: "10.81.0.2", containerPort: 80 };
  assert.throws(() => renderRuleset([network({ publishes: [publish] })]), isInvalid);
  assert.throws(
    () => renderRuleset([network({ publishes: [{ ...publish, hostPort: 1, containerIp: "x" }] })]),
    isInvalid,
  );
});

rendering("gives the same script whatever the order of the networks", () => {
  const names = fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9]{0,9}$/), { minLength: 1, maxLength: 6 });
  fc.assert(
    fc.property(names, fc.boolean(), (bridges, reverse) => {
      const networks = bridges.map((bridge, i) => network({ bridge, subnets: [`10.${i}.0.0/16`], icc: i % 2 === 0 }));
      const shuffled = reverse ? [...networks].reverse() : networks;
      assert.is(renderRuleset(shuffled), renderRuleset(networks));
    }),
  );
});

rendering.run();

const dockerUser = suite("renderDockerUserRules");

dockerUser("accepts return traffic, outbound traffic and intra-bridge traffic (icc) of each bridge", () => {
  assert.equal(renderDockerUserRules([network()], 4), [
    "-o tsbr-a -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment tsnet -j ACCEPT",
    "-i tsbr-a -o tsbr-a -m comment --comment tsnet -j ACCEPT",
    "-i tsbr-a ! -o tsbr-a -m comment --comment tsnet -j ACCEPT",
  ]);
});

dockerUser("accepts new connections to published container ports", () => {
  const rules = renderDockerUserRules(
    [
      network({
        publishes: [{ proto: "udp", hostIp: "", hostPort: 53, containerIp: "10.81.0.2", containerPort: 5353 }],
      }),
    ],
    4,
  );
  assert.ok(
    rules.includes("-d 10.81.0.2/32 -o tsbr-a -p udp -m udp --dport 5353 -m comment --comment tsnet -j ACCEPT"),
  );
});

dockerUser("lets nothing out of an internal network and nothing in with icc=false", () => {
  const rules = renderDockerUserRules([network({ internal: true, icc: false })], 4);
  assert.equal(rules, ["-o tsbr-a -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment tsnet -j ACCEPT"]);
});

dockerUser("writes v6 rules only for networks with a v6 subnet", () => {
  assert.equal(renderDockerUserRules([network()], 6), []);
  assert.is(renderDockerUserRules([network({ subnets: ["fd81::/64"] })], 6).length, 3);
});

dockerUser.run();

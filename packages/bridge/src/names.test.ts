import { isInterfaceName } from "@tsnet/protocol";
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { macFromIpv4, randomMac } from "./mac.js";
import { bridgeName, hostVethName, isOwnLinkName, peerVethName } from "./names.js";

const names = suite("names");

names("generated names are valid interface names of 15 characters with our prefixes", () => {
  fc.assert(
    fc.property(fc.oneof(fc.stringMatching(/^[0-9a-f]{64}$/), fc.string()), (id) => {
      for (const name of [bridgeName(id), hostVethName(id), peerVethName(id)]) {
        assert.ok(isInterfaceName(name), name);
        assert.is(name.length, 15);
        assert.ok(isOwnLinkName(name));
      }
      assert.is.not(hostVethName(id), peerVethName(id));
    }),
  );
});

names("names differ for ids that differ in their first ten hex characters", () => {
  fc.assert(
    fc.property(fc.stringMatching(/^[0-9a-f]{64}$/), fc.stringMatching(/^[0-9a-f]{64}$/), (a, b) => {
      fc.pre(a.slice(0, 10) !== b.slice(0, 10));
      assert.is.not(hostVethName(a), hostVethName(b));
      assert.is.not(bridgeName(a), bridgeName(b));
    }),
  );
});

names("uses Docker's short id: the first ten characters of the NetworkID", () => {
  assert.is(bridgeName("4c0d6e1f2a3b4c5d6e7f"), "tsbr-4c0d6e1f2a");
  assert.is(hostVethName("ABCDEF0123456789"), "tsve-abcdef0123");
});

names.run();

const macs = suite("mac");

macs("derives Docker's bridge MAC from the IPv4 address", () => {
  assert.is(macFromIpv4("172.17.0.2"), "02:42:ac:11:00:02");
  assert.is(macFromIpv4("10.99.0.255"), "02:42:0a:63:00:ff");
});

macs("random MACs are locally administered unicast", () => {
  for (let i = 0; i < 200; i++) {
    const first = Number.parseInt(randomMac().slice(0, 2), 16);
    assert.is(first & 0x03, 0x02);
  }
});

macs.run();

import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { cidrContains, formatCidr, formatIp, networkOf, parseCidr, parseIp, parseIpv4, parseIpv6 } from "./ip.js";

const ip = suite("parseIp");

ip("reads dotted quads and IPv6 forms", () => {
  assert.equal(parseIp("10.0.0.1"), { family: 4, value: 0x0a000001n });
  assert.equal(parseIp("255.255.255.255")?.value, 0xffffffffn);
  assert.equal(parseIp("::")?.value, 0n);
  assert.equal(parseIp("::1")?.value, 1n);
  assert.equal(parseIp("fd00:99::1")?.value, (0xfd00n << 112n) | (0x99n << 96n) | 1n);
  assert.equal(parseIp("::ffff:10.0.0.1")?.value, (0xffffn << 32n) | 0x0a000001n);
  assert.equal(parseIp("1:2:3:4:5:6:7:8")?.family, 6);
  assert.equal(parseIp("1:2:3:4:5:6:1.2.3.4")?.value, parseIp("1:2:3:4:5:6:102:304")?.value);
  assert.equal(parseIp("FD00::A")?.value, parseIp("fd00::a")?.value);
});

ip("refuses everything Go's ParseIP refuses", () => {
  for (const text of [
    "",
    "10.0.0",
    "10.0.0.256",
    "10.0.0.01",
    "10.0.0.1.",
    " 10.0.0.1",
    "10.0.0.-1",
    "1e1.0.0.1",
    "0x10.0.0.1",
    ":::",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7",
    "1::2::3",
    "1:2:3:4:5:6:7::8",
    "12345::",
    "fe80::1%eth0",
    "::1.2.3",
    "1.2.3.4::",
    "::g",
    ":1::",
  ]) {
    assert.is(parseIp(text), undefined, text);
  }
});

ip("round-trips through formatIp for every address", () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (value) => {
      const text = formatIp({ family: 6, value });
      assert.equal(parseIpv6(text)?.value, value);
    }),
  );
  fc.assert(
    fc.property(fc.ipV4(), (text) => {
      assert.is(formatIp(parseIpv4(text) ?? { family: 4, value: -1n }), text);
    }),
  );
  fc.assert(
    fc.property(fc.ipV6(), (text) => {
      assert.ok(parseIpv6(text), text);
    }),
  );
});

ip("formats IPv6 as RFC 5952", () => {
  assert.is(formatIp({ family: 6, value: 1n }), "::1");
  assert.is(formatIp({ family: 6, value: 0n }), "::");
  const ip = parseIp("2001:db8:0:1:1:1:1:1");
  assert.is(ip && formatIp(ip), "2001:db8:0:1:1:1:1:1");
  const two = parseIp("2001:0:0:1:0:0:0:1");
  assert.is(two && formatIp(two), "2001:0:0:1::1");
});
ip.run();

const cidr = suite("parseCidr");

cidr("keeps host bits and reads the prefix", () => {
  assert.equal(parseCidr("10.99.0.1/24"), { family: 4, value: 0x0a630001n, prefix: 24 });
  assert.equal(parseCidr("fd00::/64")?.prefix, 64);
  assert.equal(parseCidr("0.0.0.0/0")?.prefix, 0);
  assert.equal(parseCidr("::/128")?.prefix, 128);
});

cidr("refuses bad prefixes and bare addresses", () => {
  for (const text of [
    "10.0.0.0",
    "10.0.0.0/33",
    "10.0.0.0/024",
    "10.0.0.0/",
    "10.0.0.0/-1",
    "::/129",
    "::/1a",
    "10.0.0.0/24/1",
  ]) {
    assert.is(parseCidr(text), undefined, text);
  }
});

cidr("computes the network and membership", () => {
  const gateway = parseCidr("10.99.0.1/24");
  assert.ok(gateway);
  if (!gateway) return;
  assert.is(formatCidr(networkOf(gateway)), "10.99.0.0/24");
  assert.ok(cidrContains(gateway, parseIp("10.99.0.255") ?? { family: 4, value: 0n }));
  assert.not.ok(cidrContains(gateway, parseIp("10.99.1.0") ?? { family: 4, value: 0n }));
  assert.not.ok(cidrContains(gateway, parseIp("::1") ?? { family: 6, value: 0n }));
});
cidr.run();

import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { formatIpv6, formatNetwork, overlaps, parseAddress, parseNetwork } from "./address.js";

const test = suite("address");

test("parses dotted quads and refuses other IPv4 spellings", () => {
  assert.equal(parseAddress("10.1.2.3"), { family: 4, value: 0x0a010203n });
  for (const bad of ["10.1.2", "10.1.2.256", "010.1.2.3", "0x0a.1.2.3", "10.1.2.3 ", "", "1.2.3.4.5", "a.b.c.d"]) {
    assert.is(parseAddress(bad), undefined, bad);
  }
});

test("parses IPv6 and refuses zones and garbage", () => {
  assert.equal(parseAddress("fd00::1"), { family: 6, value: (0xfd00n << 112n) | 1n });
  assert.equal(parseAddress("::ffff:10.0.0.1")?.family, 6);
  for (const bad of ["fe80::1%eth0", "fd00:::1", "12345::", "fd00::g"]) assert.is(parseAddress(bad), undefined, bad);
});

test("clears host bits of a CIDR, as Go's net.ParseCIDR", () => {
  assert.is(formatNetwork(parseNetwork("10.99.0.5/24") as never), "10.99.0.0/24");
  assert.is(formatNetwork(parseNetwork("fd00:1::8000:0/97") as never), "fd00:1::8000:0/97");
  assert.is(parseNetwork("10.0.0.0/33"), undefined);
  assert.is(parseNetwork("fd00::/129"), undefined);
  assert.is(parseNetwork("10.0.0.0"), undefined);
  assert.is(parseNetwork("10.0.0.0/024"), undefined);
});

test("formats IPv6 as RFC 5952, as ipaddr.js does", () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(0, 0, 0, 1, 0xffff, 0xab), { minLength: 8, maxLength: 8 }), (groups) => {
      const value = groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
      const expected = ipaddr.IPv6.parse(groups.map((g) => g.toString(16)).join(":")).toRFC5952String();
      assert.is(formatIpv6(value), expected);
    }),
  );
});

test("overlaps only networks of one family that share addresses", () => {
  const n = (text: string) => parseNetwork(text) as NonNullable<ReturnType<typeof parseNetwork>>;
  assert.ok(overlaps(n("10.0.0.0/8"), n("10.99.0.0/24")));
  assert.ok(overlaps(n("10.99.0.0/24"), n("10.0.0.0/8")));
  assert.not.ok(overlaps(n("10.0.0.0/24"), n("10.0.1.0/24")));
  assert.not.ok(overlaps(n("0.0.0.0/0"), n("::/0")));
});

test.run();

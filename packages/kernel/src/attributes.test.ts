import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  attribute,
  bridgePortLinkInfo,
  formatMac,
  linkInfo,
  parseAttributes,
  parseLinkInfo,
  parseMac,
  vxlanLinkInfo,
} from "./attributes.js";

const tlv = suite("attributes");

tlv("parses back what it encodes, whatever the payload lengths (padding)", () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(
        fc.record({ type: fc.integer({ min: 1, max: 0x3fff }), payload: fc.uint8Array({ maxLength: 40 }) }),
        {
          selector: (item) => item.type,
          maxLength: 12,
        },
      ),
      (items) => {
        const parsed = parseAttributes(Buffer.concat(items.map((item) => attribute(item.type, item.payload))));
        assert.is(parsed.size, items.length);
        for (const item of items) assert.equal([...(parsed.get(item.type) ?? [])], [...item.payload]);
      },
    ),
  );
});

tlv("pads every attribute to 4 bytes and counts the header in its length", () => {
  const encoded = attribute(3, Buffer.from("ab"));
  assert.is(encoded.length, 8);
  assert.is(encoded.readUInt16LE(0), 6);
});

tlv("reads the kind and the VXLAN VNI and port from a link info", () => {
  assert.equal(parseLinkInfo(linkInfo("bridge")), { kind: "bridge" });
  assert.equal(parseLinkInfo(vxlanLinkInfo({ vni: 4097, port: 4789 })), { kind: "vxlan", vni: 4097, port: 4789 });
});

tlv("encodes a bridge port's hairpin mode as bridge_slave data and reads it back", () => {
  const on = bridgePortLinkInfo({ hairpin: true });
  // IFLA_INFO_SLAVE_KIND (4) "bridge\0" (4+7 → 12 padded), then IFLA_INFO_SLAVE_DATA (5|NESTED) holding
  // IFLA_BRPORT_MODE (4) = 1: the bytes `ip link set X type bridge_slave hairpin on` sends.
  assert.equal([...on], [11, 0, 4, 0, 98, 114, 105, 100, 103, 101, 0, 0, 12, 0, 5, 0x80, 5, 0, 4, 0, 1, 0, 0, 0]);
  assert.equal(parseLinkInfo(on), { hairpin: true });
  assert.equal(parseLinkInfo(bridgePortLinkInfo({ hairpin: false })), { hairpin: false });
  assert.equal(parseLinkInfo(Buffer.concat([linkInfo("veth"), on])), { kind: "veth", hairpin: true });
});

tlv("round-trips MAC addresses and rejects malformed ones", () => {
  assert.is(formatMac(parseMac("02:42:AC:11:00:02")), "02:42:ac:11:00:02");
  assert.throws(() => parseMac("02:42:ac:11:00"));
  assert.throws(() => parseMac("zz:42:ac:11:00:02"));
});

tlv.run();

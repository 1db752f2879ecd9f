import { DEFAULT_FIREWALL_NAMES } from "@tsnet/kernel";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { firewallNamesFor, linkGroupFor } from "./compose.js";

const test = suite("compose: per-plugin kernel names");

test('the plugin "tsnet" keeps the default firewall names and the kernel\'s default link group', () => {
  assert.equal(firewallNamesFor("tsnet"), DEFAULT_FIREWALL_NAMES);
  assert.is(linkGroupFor("tsnet"), undefined);
});

test("other plugin names get stable names of their own, within iptables' 28-character chain limit", () => {
  const a = firewallNamesFor("tse2e123456plugin1");
  assert.equal(firewallNamesFor("tse2e123456plugin1"), a);
  assert.not.equal(a.table, DEFAULT_FIREWALL_NAMES.table);
  assert.not.equal(firewallNamesFor("tse2e123456plugin2").table, a.table);
  assert.ok(a.chain.length <= 28, a.chain);
});

test("link groups are stable, distinct per name, above the reaper's reserved group and within 32 bits", () => {
  const groups = new Set<number>();
  for (let i = 0; i < 200; i++) {
    const group = linkGroupFor(`plugin${i}`) as number;
    assert.is(linkGroupFor(`plugin${i}`), group);
    assert.ok(group >= 0x10000 && group < 2 ** 31, String(group));
    groups.add(group);
  }
  assert.is(groups.size, 200);
});

test.run();

import { suite } from "uvu";
import * as assert from "uvu/assert";
import { field, isDockerId, isMacAddress, showValue } from "./validate.js";

const test = suite("validation helpers");

test("isMacAddress takes the 6-byte forms of Go's net.ParseMAC, one separator throughout", () => {
  for (const mac of ["02:42:ac:11:00:02", "02-42-AC-11-00-02", "0242.ac11.0002"]) assert.ok(isMacAddress(mac), mac);
  for (const mac of [
    "02:42:ac:11:00",
    "02:42-ac:11:00:02",
    "0242ac110002",
    "02:42:ac:11:00:0g",
    "2:42:ac:11:0:2",
    "",
  ]) {
    assert.not.ok(isMacAddress(mac), mac);
  }
});

test("isDockerId wants exactly 64 hex characters", () => {
  assert.ok(isDockerId("a".repeat(64)));
  assert.ok(isDockerId("0123456789abcdefABCDEF".padEnd(64, "0")));
  assert.not.ok(isDockerId("a".repeat(63)));
  assert.not.ok(isDockerId("g".repeat(64)));
  assert.not.ok(isDockerId(`${"a".repeat(64)}\n`));
});

test("field prefers the exact key, then any case", () => {
  assert.is(field({ NetworkID: "exact", networkid: "lower" }, "NetworkID"), "exact");
  assert.is(field({ networkid: "lower" }, "NetworkID"), "lower");
  assert.is(field({ NETWORKID: "upper" }, "NetworkID"), "upper");
  assert.is(field({ NetworkIDs: "other" }, "NetworkID"), undefined);
});

test("showValue renders JSON and cuts long values", () => {
  assert.is(showValue("x"), '"x"');
  assert.is(showValue(undefined), "undefined");
  const long = showValue("y".repeat(500));
  assert.is(long.length, 64);
  assert.ok(long.endsWith("..."));
});
test.run();

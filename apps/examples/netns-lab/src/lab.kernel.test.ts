import { execFileSync } from "node:child_process";
import { isOwnLinkName } from "@tsnet/bridge";
import { openNamespace } from "@tsnet/kernel";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { runLab } from "./lab.js";

/** Links with the bridge driver's prefixes and lab namespaces that exist now. */
async function leftovers(): Promise<string[]> {
  const root = await openNamespace();
  const links = (await root.links.list()).map((link) => link.name).filter(isOwnLinkName);
  await root.close();
  const namespaces = execFileSync("ip", ["netns", "list"], { encoding: "utf8" }).split("\n");
  return [...links, ...namespaces.filter((line) => line.startsWith("lab"))];
}

test("two namespaces on a tsnet network ping each other, and teardown leaves nothing", async () => {
  const result = await runLab("10.77.0.0/24");
  assert.ok(result.pinged, `ping ${result.addresses.join(" → ")}`);
  assert.equal(result.addresses, ["10.77.0.2/24", "10.77.0.3/24"]);
  assert.equal(await leftovers(), []);
});

test("with no subnet the IPAM picks Docker's first default pool", async () => {
  const result = await runLab();
  assert.ok(result.pinged);
  assert.is(result.addresses[0], "172.17.0.2/16");
  assert.equal(await leftovers(), []);
});

test.run();

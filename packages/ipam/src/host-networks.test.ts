import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ProcHostNetworks, parseIpv6RouteTable, parseRouteTable } from "./host-networks.js";

const ROUTE = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
`;
const IPV6_ROUTE = `fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth0
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000001 00000000 80200001       lo
`;

const test = suite("host networks");

test("reads /proc/net/route in little-endian hex and skips the default route", () => {
  assert.equal(parseRouteTable(ROUTE), ["172.17.0.0/16", "192.0.2.0/24"]);
});

test("reads /proc/net/ipv6_route and skips ::/0", () => {
  assert.equal(parseIpv6RouteTable(IPV6_ROUTE), [
    "fd00:0000:0000:0000:0000:0000:0000:0000/64",
    "0000:0000:0000:0000:0000:0000:0000:0001/128",
  ]);
});

test("lists both tables from a proc directory, and treats missing files as no routes", async () => {
  const root = await mkdtemp(join(tmpdir(), "tsnet-proc-"));
  try {
    await mkdir(join(root, "net"));
    await writeFile(join(root, "net", "route"), ROUTE);
    assert.equal(await new ProcHostNetworks(root).list(), ["172.17.0.0/16", "192.0.2.0/24"]);
    await writeFile(join(root, "net", "ipv6_route"), IPV6_ROUTE);
    assert.is((await new ProcHostNetworks(root).list()).length, 4);
    assert.equal(await new ProcHostNetworks(join(root, "absent")).list(), []);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("reads this host's real routes without throwing", async () => {
  const routes = await new ProcHostNetworks().list();
  assert.ok(Array.isArray(routes));
});

test.run();

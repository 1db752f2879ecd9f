import { isInterfaceName, isTsnetError, readBoolean, readMtu, silentLogger } from "@tsnet/protocol";
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { parseNetworkConfig } from "./options.js";
import { networkRequest } from "./testing.js";

const options = suite("options");

options("readBoolean accepts exactly what Go's strconv.ParseBool accepts", () => {
  const accepted = ["1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"];
  fc.assert(
    fc.property(fc.oneof(fc.constantFrom(...accepted, "yes", "no", "tRUE", " true", ""), fc.string()), (value) => {
      let result: boolean | undefined;
      let failed = false;
      try {
        result = readBoolean({ k: value }, "k");
      } catch (error) {
        failed = isTsnetError(error) && error.code === "INVALID_ARGUMENT" && error.message.includes("option k");
      }
      if (accepted.includes(value)) assert.is(result, accepted.indexOf(value) < 6);
      else assert.ok(failed, value);
    }),
  );
});

options("readMtu accepts 68-65535 decimal and nothing else", () => {
  fc.assert(
    fc.property(fc.oneof(fc.integer({ min: -10, max: 70_000 }).map(String), fc.string()), (value) => {
      let result: number | undefined;
      try {
        result = readMtu({ "com.docker.network.driver.mtu": value });
      } catch (error) {
        assert.ok(isTsnetError(error) && error.message.includes("com.docker.network.driver.mtu"));
        return;
      }
      assert.ok(/^[0-9]+$/.test(value));
      assert.ok(result !== undefined && result >= 68 && result <= 65535);
    }),
  );
});

options("isInterfaceName follows the kernel's rule", () => {
  for (const good of ["br0", "a", "abcdefghijklmno", "br-lab.1_x"]) assert.ok(isInterfaceName(good), good);
  for (const bad of ["", ".", "..", "abcdefghijklmnop", "a/b", "a:b", "a b", "a\tb", "ééééééééé"]) {
    assert.not.ok(isInterfaceName(bad), bad);
  }
});

options("defaults: Docker's (icc and masquerade on, MTU from the daemon, prefix eth)", () => {
  const config = parseNetworkConfig(networkRequest(), 1500, silentLogger);
  assert.equal(
    {
      mtu: config.mtu,
      icc: config.icc,
      masquerade: config.masquerade,
      prefix: config.containerIfacePrefix,
      host: config.hostBindingIpv4,
    },
    { mtu: 1500, icc: true, masquerade: true, prefix: "eth", host: "" },
  );
});

options("a gateway outside its pool or a pool of the wrong family is INVALID_ARGUMENT naming the field", () => {
  for (const [data, field] of [
    [{ AddressSpace: "x", Pool: "10.0.0.0/24", Gateway: "10.0.1.1/24", AuxAddresses: {} }, "IPv4Data[0].Gateway"],
    [{ AddressSpace: "x", Pool: "fd00::/64", AuxAddresses: {} }, "IPv4Data[0].Pool"],
    [{ AddressSpace: "x", Pool: "10.0.0.0/33", AuxAddresses: {} }, "IPv4Data[0].Pool"],
  ] as const) {
    assert.throws(
      () => parseNetworkConfig(networkRequest({ ipv4Data: [data] }), 1500, silentLogger),
      (error: unknown) => isTsnetError(error) && error.message.includes(field),
    );
  }
});

options.run();

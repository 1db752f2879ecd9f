import { suite } from "uvu";
import * as assert from "uvu/assert";
import { isTsnetError } from "./error.js";
import { BRIDGE_ENABLE_ICC_OPTION, BRIDGE_HOST_BINDING_IPV4_OPTION, BRIDGE_NAME_OPTION, MTU_OPTION } from "./labels.js";
import {
  isInterfaceName,
  parseBoolean,
  readBoolean,
  readInteger,
  readInterfaceName,
  readIpv4,
  readMtu,
} from "./options.js";

function throwsNaming(work: () => unknown, message: string): void {
  assert.throws(work, (e: unknown) => isTsnetError(e) && e.code === "INVALID_ARGUMENT" && e.message === message);
}

const options = suite("option readers");

options("readMtu takes Docker's decimal string and refuses the rest", () => {
  assert.is(readMtu({ [MTU_OPTION]: "1400" }), 1400);
  assert.is(readMtu({ [MTU_OPTION]: "68" }), 68);
  assert.is(readMtu({ [MTU_OPTION]: "65535" }), 65535);
  assert.is(readMtu({}), undefined);
  throwsNaming(
    () => readMtu({ [MTU_OPTION]: "abc" }),
    'option com.docker.network.driver.mtu "abc" is not an integer from 68 to 65535',
  );
  for (const bad of ["67", "65536", "", "1400.0", "-1", " 1400", "1e3", "0x500"]) {
    assert.throws(() => readMtu({ [MTU_OPTION]: bad }), undefined, bad);
  }
});

options("readBoolean accepts exactly strconv.ParseBool's spellings", () => {
  for (const yes of ["1", "t", "T", "TRUE", "true", "True"]) assert.is(parseBoolean(yes), true, yes);
  for (const no of ["0", "f", "F", "FALSE", "false", "False"]) assert.is(parseBoolean(no), false, no);
  for (const bad of ["yes", "tRUE", "", "2", "on"]) assert.is(parseBoolean(bad), undefined, bad);
  assert.is(readBoolean({ [BRIDGE_ENABLE_ICC_OPTION]: "false" }, BRIDGE_ENABLE_ICC_OPTION), false);
  assert.is(readBoolean({}, BRIDGE_ENABLE_ICC_OPTION), undefined);
  throwsNaming(
    () => readBoolean({ [BRIDGE_ENABLE_ICC_OPTION]: "yes" }, BRIDGE_ENABLE_ICC_OPTION),
    'option com.docker.network.bridge.enable_icc "yes" is not a boolean (true/false/1/0)',
  );
});

options("readInterfaceName follows the kernel's rules", () => {
  assert.is(readInterfaceName({ [BRIDGE_NAME_OPTION]: "br-tsnet0" }, BRIDGE_NAME_OPTION), "br-tsnet0");
  assert.ok(isInterfaceName("a".repeat(15)));
  for (const bad of ["", ".", "..", "a".repeat(16), "a/b", "a b", "a:b", "tab\t", "ééééééééé"]) {
    assert.not.ok(isInterfaceName(bad), bad);
    assert.throws(() => readInterfaceName({ k: bad }, "k"));
  }
});

options("readIpv4 and readInteger", () => {
  assert.is(readIpv4({ [BRIDGE_HOST_BINDING_IPV4_OPTION]: "127.0.0.1" }, BRIDGE_HOST_BINDING_IPV4_OPTION), "127.0.0.1");
  throwsNaming(
    () => readIpv4({ [BRIDGE_HOST_BINDING_IPV4_OPTION]: "::1" }, BRIDGE_HOST_BINDING_IPV4_OPTION),
    'option com.docker.network.bridge.host_binding_ipv4 "::1" is not an IPv4 address',
  );
  assert.is(readInteger({ vni: "4097" }, "vni", 1, 16777215), 4097);
  assert.throws(() => readInteger({ vni: "0" }, "vni", 1, 16777215));
});
options.run();

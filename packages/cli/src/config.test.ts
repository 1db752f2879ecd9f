import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ConfigError, DEFAULT_ADMIN_SOCKET, DEFAULT_SOCKET, parsePoolSpec, resolveConfig } from "./config.js";

const test = suite("config");
let dir = "";
test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), "tsnet-config-"));
});
test.after.each(() => {
  rmSync(dir, { recursive: true, force: true });
});

function file(content: unknown): string {
  const path = join(dir, "config.json");
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    assert.instance(error, ConfigError);
    return (error as Error).message;
  }
  return assert.unreachable("accepted") as never;
}

test("defaults when there is no file, no variable and no flag", () => {
  const { config, sources, file: used } = resolveConfig({ flags: {}, env: {}, configFile: undefined });
  assert.is(config.socket, DEFAULT_SOCKET);
  assert.is(config.adminSocket, DEFAULT_ADMIN_SOCKET);
  assert.is(config.logLevel, "info");
  assert.is(config.mtu, 1500);
  assert.is(sources.socket, "default");
  // /etc/tsnet/config.json absent on test machines: no file used
  assert.is(used, undefined);
});

test("precedence: flags over environment over file over defaults, key by key", () => {
  const path = file({ socket: "/f/p.sock", stateDir: "/f/state", logLevel: "warn", mtu: 1400 });
  const env = { TSNET_STATE_DIR: "/e/state", TSNET_LOG_LEVEL: "debug" };
  const { config, sources } = resolveConfig({ flags: { logLevel: "error" }, env, configFile: path });
  assert.is(config.socket, "/f/p.sock");
  assert.is(config.stateDir, "/e/state");
  assert.is(config.logLevel, "error");
  assert.is(config.mtu, 1400);
  assert.equal([sources.socket, sources.stateDir, sources.logLevel, sources.mtu], ["file", "env", "flag", "file"]);
});

test("TSNET_CONFIG names the file when --config does not", () => {
  const path = file({ mtu: 9000 });
  assert.is(resolveConfig({ flags: {}, env: { TSNET_CONFIG: path } }).config.mtu, 9000);
});

test("a bad pool size is refused with the file, the key path and the reason", () => {
  const path = file({ defaultAddressPools: [{ base: "10.10.0.0/16", size: 33 }] });
  assert.is(
    refusal(() => resolveConfig({ flags: {}, env: {}, configFile: path })),
    `${path}: defaultAddressPools[0].size: 33 is not a prefix length 1-32`,
  );
});

test("bad keys and values name where they came from", () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ sockett: "/x" }, /config\.json: sockett: unknown key \(known: socket, /],
    [{ logLevel: "loud" }, /config\.json: logLevel: "loud" is not one of trace, /],
    [{ mtu: 10 }, /config\.json: mtu: 10 is not an integer from 68 to 65535/],
    [{ mtu: "1500" }, /config\.json: mtu: "1500" is not an integer/],
    [{ socket: "relative.sock" }, /config\.json: socket: "relative.sock" must be an absolute path/],
    [{ socket: `/${"x".repeat(120)}` }, /is longer than 107 bytes/],
    [{ defaultAddressPools: [] }, /defaultAddressPools: must be a non-empty list/],
    [{ defaultAddressPools: [{ base: "10.0.0.0/8", size: 24, x: 1 }] }, /defaultAddressPools\[0\]\.x: unknown key/],
    [
      { defaultAddressPools: [{ base: "10.0.0/8", size: 24 }] },
      /defaultAddressPools\[0\]\.base: "10.0.0\/8" is not a CIDR/,
    ],
    [
      { defaultAddressPools: [{ base: "10.0.0.0/16", size: 8 }] },
      /size: 8 is shorter than the base's prefix length 16/,
    ],
    [{ pluginName: "Bad Name" }, /pluginName: "Bad Name" is not a plugin name/],
    [{ adminSocket: "/run/x.sock", socket: "/run/x.sock" }, /adminSocket: "\/run\/x.sock" is also the plugin socket/],
    [[1, 2], /must be a JSON object/],
    ["{not json", /not JSON/],
  ];
  for (const [content, message] of cases) {
    const path = file(content);
    assert.match(
      refusal(() => resolveConfig({ flags: {}, env: {}, configFile: path })),
      message,
    );
  }
});

test("a named file that does not exist is refused; environment values are checked like the file's", () => {
  assert.match(
    refusal(() => resolveConfig({ flags: {}, env: {}, configFile: join(dir, "nope.json") })),
    /cannot read: ENOENT/,
  );
  assert.match(
    refusal(() => resolveConfig({ flags: {}, env: { TSNET_MTU: "big" } })),
    /^TSNET_MTU: "big" is not an integer/,
  );
  assert.match(
    refusal(() => resolveConfig({ flags: { mtu: "70000" }, env: {} })),
    /^option '--mtu': "70000"/,
  );
  assert.match(
    refusal(() => resolveConfig({ flags: {}, env: { TSNET_DEFAULT_ADDRESS_POOLS: "base=10.0.0.0/8" } })),
    /TSNET_DEFAULT_ADDRESS_POOLS: "base=10.0.0.0\/8" is not base=CIDR,size=N/,
  );
});

test("TSNET_DEFAULT_ADDRESS_POOLS takes several base=,size= pools", () => {
  const { config } = resolveConfig({
    flags: {},
    env: { TSNET_DEFAULT_ADDRESS_POOLS: "base=10.10.0.0/16,size=24;base=10.20.0.0/16,size=26" },
  });
  assert.equal(config.defaultAddressPools, [
    { base: "10.10.0.0/16", size: 24 },
    { base: "10.20.0.0/16", size: 26 },
  ]);
});

test("any JSON file either resolves to a valid config or is refused with a ConfigError (never anything else)", () => {
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      const path = file(value);
      try {
        const { config } = resolveConfig({ flags: {}, env: {}, configFile: path });
        assert.ok(config.socket.startsWith("/") && Number.isInteger(config.mtu));
      } catch (error) {
        assert.instance(error, ConfigError);
      }
    }),
    { numRuns: 300 },
  );
});

test("parsePoolSpec reads dockerd's --default-address-pool syntax", () => {
  assert.equal(parsePoolSpec("base=10.1.0.0/16,size=24", "x"), { base: "10.1.0.0/16", size: 24 });
  assert.throws(() => parsePoolSpec("base=10.1.0.0/16,size=24,extra=1", "x"), /not base=CIDR,size=N/);
  assert.throws(() => parsePoolSpec("base=10.1.0.0/16,size=x", "x"), /not a prefix length/);
});

test.run();

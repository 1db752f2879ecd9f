import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main } from "./cli.js";

async function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    env,
  });
  return { code, stdout, stderr };
}

const test = suite("help and usage");
const COMMANDS = ["serve", "status", "ls", "ipam", "doctor", "gc"];

test("tsnet --help lists every command and the exit codes, on stdout, exit 0", async () => {
  for (const args of [["--help"], ["-h"], ["help"]]) {
    const result = await cli(args);
    assert.is(result.code, EXIT_OK);
    assert.match(result.stdout, /^Usage: tsnet <command> \[options\]/);
    for (const command of COMMANDS) assert.match(result.stdout, new RegExp(`\\n  ${command}\\b`));
    assert.match(result.stdout, /Exit codes:/);
  }
});

test("every command's --help has a usage line, options and examples; `tsnet help CMD` prints the same", async () => {
  for (const command of COMMANDS) {
    const args = command === "ipam" ? ["ipam", "show", "--help"] : [command, "--help"];
    const result = await cli(args);
    assert.is(result.code, EXIT_OK, `${command}: ${result.stderr}`);
    assert.match(result.stdout, new RegExp(`^Usage: tsnet ${command}`));
    assert.match(result.stdout, /\nOptions:\n/);
    assert.match(result.stdout, /\nExamples:\n/);
    assert.match(result.stdout, /-h, --help/);
    assert.is((await cli(["help", command])).stdout, result.stdout);
  }
});

test("usage errors exit 2 naming the command, the flag and where to get help", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["frobnicate"], /^tsnet: unknown command 'frobnicate'\nRun 'tsnet --help' for usage\.\n$/],
    [["--frob"], /^tsnet: unknown option '--frob'/],
    [["status", "--jsn"], /^tsnet status: Unknown option '--jsn'\nRun 'tsnet status --help'/],
    [["ls", "extra"], /^tsnet ls: unexpected argument 'extra'/i],
    [["ipam"], /^tsnet ipam: missing sub-command \(show\)/],
    [["ipam", "list"], /^tsnet ipam: unknown sub-command 'ipam list'/],
    [["ipam", "show"], /^tsnet ipam: missing NETWORK/],
    [["gc", "--settle-ms", "-1"], /^tsnet gc: /],
    [["gc", "--settle-ms", "99999"], /^tsnet gc: option '--settle-ms' must be 0-60000/],
    [["serve", "--mtu", "9"], /^tsnet serve: option '--mtu': "9" is not an integer from 68 to 65535/],
    [
      ["serve", "--default-address-pool", "base=10.0.0.0/8"],
      /^tsnet serve: option '--default-address-pool': .* is not base=CIDR,size=N/,
    ],
    [["help", "nope"], /^tsnet: no help for 'nope'/],
  ];
  for (const [args, message] of cases) {
    const result = await cli(args);
    assert.is(result.code, EXIT_USAGE, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.is(result.stdout, "");
  }
  const noArgs = await cli([]);
  assert.is(noArgs.code, EXIT_USAGE);
  assert.match(noArgs.stderr, /^Usage: tsnet/);
});

test("a bad environment value stops serve before it starts, exit 2, naming the variable", async () => {
  const result = await cli(["serve"], { TSNET_LOG_LEVEL: "chatty" });
  assert.is(result.code, EXIT_USAGE);
  assert.match(result.stderr, /^tsnet serve: TSNET_LOG_LEVEL: "chatty" is not one of/);
});

test("serve --config with a bad value exits 2 before starting, naming the file, the key path and the reason", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsnet-help-"));
  try {
    const path = join(dir, "config.json");
    writeFileSync(path, JSON.stringify({ defaultAddressPools: [{ base: "10.10.0.0/16", size: 33 }] }));
    const result = await cli(["serve", "--config", path]);
    assert.is(result.code, EXIT_USAGE);
    assert.is(result.stderr, `tsnet serve: ${path}: defaultAddressPools[0].size: 33 is not a prefix length 1-32\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--version prints the package version", async () => {
  const result = await cli(["--version"]);
  assert.is(result.code, EXIT_OK);
  assert.match(result.stdout, /^\d+\.\d+\.\d+\n$/);
  assert.ok(EXIT_FAILURE === 1);
});

test.run();

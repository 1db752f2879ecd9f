import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { callPlugin, parseResponse } from "@tsnet/server/testing";
import { suite } from "uvu";
import * as assert from "uvu/assert";

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));
const PACKAGE_DIR = fileURLToPath(new URL("..", import.meta.url));

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; afterMs: number }>;
}

/** Runs the CLI from source, as `tsnet ARGS`. */
function run(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, ["--conditions=@tsnet/source", "--import", "tsx", MAIN, ...args], {
    cwd: PACKAGE_DIR,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (chunk) => {
    out += String(chunk);
  });
  child.stderr?.on("data", (chunk) => {
    err += String(chunk);
  });
  let signalledAt = 0;
  const kill = child.kill.bind(child);
  child.kill = (signal?: NodeJS.Signals | number) => {
    signalledAt = Date.now();
    return kill(signal);
  };
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; afterMs: number }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal, afterMs: signalledAt ? Date.now() - signalledAt : 0 })),
  );
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Starts `tsnet serve` on a fresh socket and waits until it logs "serving". */
async function startDaemon(dir: string, extra: string[] = []): Promise<Run & { socket: string }> {
  const socket = join(dir, "plugins", "tsnet.sock");
  const daemon = run([
    "serve",
    "--socket",
    socket,
    "--state-dir",
    join(dir, "state"),
    "--admin-socket",
    join(dir, "admin.sock"),
    ...extra,
  ]);
  await waitFor(() => daemon.stderr().includes('"msg":"serving"') || daemon.child.exitCode !== null, "serving");
  return { ...daemon, socket };
}

async function stopDaemon(daemon: Run): Promise<void> {
  if (daemon.child.exitCode === null && daemon.child.signalCode === null) {
    daemon.child.kill("SIGKILL");
    await daemon.exited;
  }
}

const cli = suite("tsnet serve");
let dir = "";
cli.before.each(async () => {
  dir = await mkdtemp(join(tmpdir(), "tsnet-cli-"));
});
cli.after.each(async () => {
  await rm(dir, { recursive: true, force: true });
});

cli("serves Plugin.Activate on the socket, mode 0660, and logs the plugin name", async () => {
  const daemon = await startDaemon(dir);
  try {
    const response = await callPlugin(daemon.socket, "/Plugin.Activate");
    assert.is(response.status, 200);
    assert.equal(response.json, { Implements: ["NetworkDriver", "IpamDriver"] });
    assert.is((await stat(daemon.socket)).mode & 0o777, 0o660);
    assert.match(daemon.stderr(), /"plugin":"tsnet"/);
  } finally {
    await stopDaemon(daemon);
  }
});

cli("SIGTERM: an in-flight request completes, the socket is removed, exit 0 within 5 s", async () => {
  const daemon = await startDaemon(dir);
  try {
    // a request whose headers are still arriving when the signal comes: it is in flight, not idle
    const client = connect(daemon.socket);
    let received = "";
    client.setEncoding("utf8");
    client.on("data", (chunk: string) => {
      received += chunk;
    });
    await new Promise((resolve) => client.once("connect", resolve));
    client.write("POST /Plugin.Activate HTTP/1.1\r\nHost: \r\n");
    await new Promise((resolve) => setTimeout(resolve, 100));
    daemon.child.kill("SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 200));
    client.write("Content-Length: 0\r\n\r\n");
    const exit = await daemon.exited;
    await waitFor(() => parseResponse(received) !== undefined, "the in-flight response", 2_000);
    assert.is(parseResponse(received)?.response.status, 200);
    assert.is(exit.code, 0, daemon.stderr());
    assert.ok(exit.afterMs < 5_000, `exited after ${exit.afterMs} ms`);
    assert.not.ok(existsSync(daemon.socket));
    assert.match(daemon.stderr(), /"msg":"stopped"/);
    client.destroy();
  } finally {
    await stopDaemon(daemon);
  }
});

cli("SIGINT stops it the same way", async () => {
  const daemon = await startDaemon(dir);
  try {
    daemon.child.kill("SIGINT");
    const exit = await daemon.exited;
    assert.is(exit.code, 0, daemon.stderr());
    assert.not.ok(existsSync(daemon.socket));
  } finally {
    await stopDaemon(daemon);
  }
});

cli("a second instance on a live socket refuses with a clear message and a non-zero exit", async () => {
  const first = await startDaemon(dir);
  try {
    const second = run([
      "serve",
      "--socket",
      first.socket,
      "--state-dir",
      join(dir, "state2"),
      "--admin-socket",
      join(dir, "admin2.sock"),
    ]);
    const exit = await second.exited;
    assert.is(exit.code, 1);
    assert.ok(
      second.stderr().includes(`tsnet serve: socket "${first.socket}" is served by another process`),
      second.stderr(),
    );
    // the first one is untouched
    assert.is((await callPlugin(first.socket, "/Plugin.Activate")).status, 200);
  } finally {
    await stopDaemon(first);
  }
});

cli("a stale socket file (its server was killed) is replaced", async () => {
  const first = await startDaemon(dir);
  first.child.kill("SIGKILL");
  await first.exited;
  assert.ok(existsSync(first.socket), "SIGKILL left the socket file behind");
  const second = await startDaemon(dir);
  try {
    assert.is((await callPlugin(second.socket, "/Plugin.Activate")).status, 200);
  } finally {
    await stopDaemon(second);
  }
});

cli("usage errors exit 2 with a message naming the flag", async () => {
  for (const [args, message] of [
    [["serve", "--sockt", "/x"], "tsnet serve: Unknown option '--sockt'"],
    [["serve", "--log-level", "loud"], `tsnet serve: option '--log-level': "loud" is not one of`],
    [["serve", "--socket"], "tsnet serve: Option '--socket <value>' argument missing"],
    [["frobnicate"], "tsnet: unknown command 'frobnicate'"],
    [[], "Usage: tsnet <command>"],
  ] as Array<[string[], string]>) {
    const cli = run(args);
    const exit = await cli.exited;
    assert.is(exit.code, 2, args.join(" "));
    assert.ok(cli.stderr().includes(message), `${args.join(" ")}: ${cli.stderr()}`);
  }
});

cli("config file, environment and flags: each setting from the highest source that has it", async () => {
  const config = join(dir, "config.json");
  await writeFile(
    config,
    JSON.stringify({
      socket: join(dir, "file.sock"),
      stateDir: join(dir, "file-state"),
      adminSocket: join(dir, "file-admin.sock"),
    }),
  );
  const daemon = run(["serve", "--config", config, "--state-dir", join(dir, "flag-state")], {
    TSNET_ADMIN_SOCKET: join(dir, "env-admin.sock"),
    TSNET_STATE_DIR: join(dir, "env-state"),
  });
  try {
    await waitFor(() => daemon.stderr().includes('"msg":"serving"') || daemon.child.exitCode !== null, "serving");
    assert.is((await callPlugin(join(dir, "file.sock"), "/Plugin.Activate")).status, 200, daemon.stderr());
    assert.is((await stat(join(dir, "env-admin.sock"))).mode & 0o777, 0o600);
    assert.ok(existsSync(join(dir, "flag-state", "tsnet.pid")), "the flag's state dir is not the one in use");
    assert.not.ok(existsSync(join(dir, "env-state")));
    assert.not.ok(existsSync(join(dir, "file-admin.sock")));
    assert.match(daemon.stderr(), new RegExp(`"configFile":"${config.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}"`));
  } finally {
    await stopDaemon(daemon);
  }
});

cli("--help prints usage on stdout and exits 0", async () => {
  for (const args of [["--help"], ["serve", "--help"]]) {
    const cli = run(args);
    const exit = await cli.exited;
    assert.is(exit.code, 0);
    assert.match(cli.stdout(), /^Usage: tsnet/);
  }
  const serveHelp = run(["serve", "-h"]);
  await serveHelp.exited;
  assert.match(serveHelp.stdout(), /--socket PATH/);
});
cli.run();

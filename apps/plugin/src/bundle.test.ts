import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  deployDaemon,
  PLUGIN_ENTRY,
  PLUGIN_ENTRY_SOURCE,
  PLUGIN_SOCKET,
  parseLdd,
  pluginConfig,
  REPO_ROOT,
} from "./bundle.js";

const test = suite("plugin bundle");

test("config.json declares both interfaces on tsnet.sock, host network, the capabilities and the state mount", () => {
  const config = pluginConfig();
  assert.equal(config.interface, {
    types: ["docker.networkdriver/1.0", "docker.ipamdriver/1.0"],
    socket: "tsnet.sock",
  });
  assert.is(config.network.type, "host");
  for (const capability of ["CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_NET_RAW"]) {
    assert.ok(config.linux.capabilities.includes(capability), capability);
  }
  assert.is(PLUGIN_SOCKET, `/run/docker/plugins/${config.interface.socket}`);
  const socketFlag = config.entrypoint.indexOf("--socket");
  assert.is(config.entrypoint[socketFlag + 1], PLUGIN_SOCKET);
  const stateFlag = config.entrypoint.indexOf("--state-dir");
  const state = config.mounts.find((mount) => mount.name === "state");
  assert.is(state?.destination, config.entrypoint[stateFlag + 1]);
  assert.equal(state?.settable, ["source"]);
  assert.ok(config.env.some((variable) => variable.name === "TSNET_PLUGIN_NAME"));
});

test("the plugin entry is valid JavaScript and the entrypoint runs it", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsnet-entry-"));
  try {
    const file = join(dir, "plugin-entry.mjs");
    writeFileSync(file, PLUGIN_ENTRY_SOURCE);
    execFileSync(process.execPath, ["--check", file]);
    assert.is(pluginConfig().entrypoint[1], PLUGIN_ENTRY);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("parseLdd keeps resolved libraries and the loader, drops the vdso and unresolved lines", () => {
  const text = [
    "\tlinux-vdso.so.1 (0x00007ffd)",
    "\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f22)",
    "\tlibmissing.so.1 => not found",
    "\t/lib64/ld-linux-x86-64.so.2 (0x00007f22)",
  ].join("\n");
  assert.equal(parseLdd(text), ["/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib64/ld-linux-x86-64.so.2"]);
});

test("deployDaemon copies the built daemon with production dependencies only, and it loads without the workspace", () => {
  if (!existsSync(join(REPO_ROOT, "packages/cli/dist/main.js"))) {
    assert.unreachable("packages/cli is not built: run pnpm build");
  }
  const dir = mkdtempSync(join(tmpdir(), "tsnet-deploy-"));
  try {
    const packages = deployDaemon(join(dir, "app"));
    assert.ok(packages.some((name) => name.startsWith("lmdb@")));
    assert.ok(packages.some((name) => name.startsWith("netlink@")));
    assert.not.ok(
      packages.some((name) => /^(uvu|tsx|fast-check|@types\/)/.test(name)),
      packages.join(", "),
    );
    assert.not.ok(existsSync(join(dir, "app/dist/cli.kernel.test.js")), "tests were copied");
    // outside the repository, so nothing resolves from the workspace's node_modules
    const out = execFileSync(process.execPath, [join(dir, "app/dist/main.js"), "--version"], {
      encoding: "utf8",
      cwd: dir,
    });
    assert.match(out, /^\d+\.\d+\.\d+/);
    const natives = execFileSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        'await import("lmdb"); await import("netlink"); await import("koffi"); console.log("ok")',
      ],
      { encoding: "utf8", cwd: join(dir, "app") },
    );
    assert.is(natives.trim(), "ok");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();

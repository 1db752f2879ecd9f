import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "@tsnet/protocol";
import { callPlugin } from "@tsnet/server/testing";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { pluginNameOf, serve } from "./serve.js";

const test = suite("serve");

test("the plugin name is the socket's file name without .sock", () => {
  assert.is(pluginNameOf("/run/docker/plugins/tsnet.sock"), "tsnet");
  assert.is(pluginNameOf("/run/docker/plugins/tsnet/tsnet.sock"), "tsnet");
  assert.is(pluginNameOf("/tmp/x"), "x");
});

test("stop() removes the socket and can be called twice", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tsnet-serve-"));
  try {
    const daemon = await serve({ socketPath: join(dir, "p.sock"), stateDir: join(dir, "state"), logger: silentLogger });
    assert.is(daemon.pluginName, "p");
    assert.is((await callPlugin(daemon.socketPath, "/Plugin.Activate")).status, 200);
    await Promise.all([daemon.stop(), daemon.stop()]);
    await callPlugin(daemon.socketPath, "/Plugin.Activate").then(
      () => assert.unreachable("still serving"),
      () => {},
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
test.run();

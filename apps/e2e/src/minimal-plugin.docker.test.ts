// Issue 3's proof with a real Docker Engine: a plugin served by @tsnet/server on a unix socket is activated by
// dockerd, receives network create / rm in Docker's documented order, and its errors reach the docker user.
// The drivers are the test-local minimal ones (minimal-plugin.ts), so this test does not depend on IPAM or bridge.
import { join } from "node:path";
import type { Logger } from "@tsnet/protocol";
import { createPluginApp, type ListeningServer, listen } from "@tsnet/server";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { cleanup, docker, ensureDocker, fixture, freeSubnet, PLUGIN_DIR, tryDocker, uniqueName } from "./harness.js";
import { createMinimalPlugin } from "./minimal-plugin.js";

interface ServedCall {
  call: string;
  status: number;
}

/** Records the server's one-line-per-request log: every call Docker made, in order, with the status it got. */
function recordingLogger(into: ServedCall[]): Logger {
  const record = (fields: Record<string, unknown>, message: string) => {
    if (message === "request") into.push({ call: String(fields.call), status: Number(fields.status) });
  };
  const logger: Logger = { debug: record, info: record, warn: record, error: record, child: () => logger };
  return logger;
}

/** True when `wanted` appears in `calls` in this order (other calls may come between). */
function inOrder(calls: readonly string[], wanted: readonly string[]): boolean {
  let next = 0;
  for (const call of calls) if (call === wanted[next]) next += 1;
  return next === wanted.length;
}

const plugin = createMinimalPlugin();
const served: ServedCall[] = [];
const name = uniqueName("min");
const socketPath = join(PLUGIN_DIR, `${name}.sock`);
const pluginServer = fixture<ListeningServer>(async () => {
  await ensureDocker();
  const app = createPluginApp({
    networkDriver: plugin.networkDriver,
    ipamDriver: plugin.ipamDriver,
    logger: recordingLogger(served),
  });
  return listen(app, socketPath);
});

const proof = suite("Docker and a plugin served by @tsnet/server");

proof.before(pluginServer.setup);

proof.after(async () => {
  await cleanup();
  try {
    await pluginServer.get().close();
  } catch {
    // setup failed: there is no server to close
  }
});

proof.before.each(() => {
  pluginServer.get();
  served.length = 0;
  plugin.calls.length = 0;
  delete plugin.faults.requestPool;
  delete plugin.faults.createNetwork;
});

const network = uniqueName("net");
let subnet = "";
let networkId = "";

proof("docker network create activates the plugin, then asks for a pool, the gateway and the network", async () => {
  subnet = await freeSubnet();
  networkId = await docker(["network", "create", "-d", name, "--ipam-driver", name, "--subnet", subnet, network]);
  const calls = served.map((entry) => entry.call);
  assert.ok(
    inOrder(calls, [
      "Plugin.Activate",
      "NetworkDriver.GetCapabilities",
      "IpamDriver.GetCapabilities",
      "IpamDriver.RequestPool",
      "IpamDriver.RequestAddress",
      "NetworkDriver.CreateNetwork",
    ]),
    `calls in this order: ${calls.join(", ")}`,
  );
  assert.equal(
    served.filter((entry) => entry.status !== 200),
    [],
    "every call answered 200",
  );
  assert.ok(plugin.networks.has(networkId), "the driver holds the NetworkID Docker printed");
  const gateway = subnet.replace(/0\/24$/, "1/24");
  assert.equal(
    plugin.calls.find((entry) => entry.call === "NetworkDriver.CreateNetwork")?.detail,
    `${subnet} gw ${gateway}`,
    "CreateNetwork carried the pool and the gateway the IPAM handed out",
  );
});

proof("docker network inspect shows the plugin as network and IPAM driver", async () => {
  const shown = await docker([
    "network",
    "inspect",
    "--format",
    "{{.Driver}} {{.IPAM.Driver}} {{range .IPAM.Config}}{{.Subnet}}{{end}}",
    network,
  ]);
  assert.is(shown, `${name} ${name} ${subnet}`);
});

proof("docker network rm releases the gateway and the pool, then deletes the network", async () => {
  await docker(["network", "rm", network]);
  const calls = served.map((entry) => entry.call);
  assert.ok(
    inOrder(calls, ["IpamDriver.ReleaseAddress", "IpamDriver.ReleasePool", "NetworkDriver.DeleteNetwork"]),
    `calls in this order: ${calls.join(", ")}`,
  );
  assert.not.ok(plugin.networks.has(networkId), "the driver forgot the network");
  assert.is(plugin.pools.size, 0, "the IPAM holds no pool");
  assert.is((await tryDocker(["network", "inspect", network])).code, 1, "Docker no longer knows the network");
});

proof("an IPAM error reaches the docker user as the plugin's message", async () => {
  const message = `minimal IPAM refuses this pool (${uniqueName("fault")})`;
  plugin.faults.requestPool = message;
  const failed = await tryDocker([
    "network",
    "create",
    "-d",
    name,
    "--ipam-driver",
    name,
    "--subnet",
    await freeSubnet(),
    uniqueName("net"),
  ]);
  assert.is.not(failed.code, 0, "network create failed");
  assert.match(failed.stderr, `IpamDriver.RequestPool: ${message}`);
  assert.equal(
    served.find((entry) => entry.call === "IpamDriver.RequestPool")?.status,
    409,
    "CONFLICT went out as 409",
  );
  assert.not.ok(
    served.some((entry) => entry.call === "NetworkDriver.CreateNetwork"),
    "the driver was never asked to create the network",
  );
});

proof("a driver error on CreateNetwork reaches the user, and Docker gives the IPAM allocations back", async () => {
  const message = `minimal driver refuses this network (${uniqueName("fault")})`;
  plugin.faults.createNetwork = message;
  const rejected = uniqueName("net");
  const failed = await tryDocker([
    "network",
    "create",
    "-d",
    name,
    "--ipam-driver",
    name,
    "--subnet",
    await freeSubnet(),
    rejected,
  ]);
  assert.is.not(failed.code, 0, "network create failed");
  assert.match(failed.stderr, `NetworkDriver.CreateNetwork: ${message}`);
  const calls = served.map((entry) => entry.call);
  assert.ok(
    inOrder(calls, ["NetworkDriver.CreateNetwork", "IpamDriver.ReleaseAddress", "IpamDriver.ReleasePool"]),
    `rollback in this order: ${calls.join(", ")}`,
  );
  assert.is(plugin.pools.size, 0, "the IPAM holds no pool");
  assert.is((await tryDocker(["network", "inspect", rejected])).code, 1, "Docker did not keep the network");
});

proof.run();

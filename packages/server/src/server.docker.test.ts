/**
 * Against the real dockerd (20.10.24, /usr/bin/docker): the plugin socket under /run/docker/plugins, recording
 * drivers, and `docker network create/rm`. Proves the parsers accept what dockerd really sends, and that failures
 * reach the user through Err. A unique plugin name per run: dockerd caches activation per name.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFile, mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type {
  CreateEndpointRequest,
  CreateNetworkRequest,
  IpamDriver,
  JoinRequest,
  RequestAddressRequest,
} from "@tsnet/protocol";
import { TsnetError } from "@tsnet/protocol";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createPluginApp } from "./app.js";
import { type ListeningServer, listen } from "./listen.js";
import { createRecordingNetworkDriver, type RecordedCall } from "./testing.js";

const run = promisify(execFile);
const IMAGE = `${"tst"}srv-busybox:${randomBytes(2).toString("hex")}`;

/** A one-binary image (no registry here): busybox plus `true` and `sh` links, via docker import. */
async function importBusybox(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "tsnet-image-"));
  try {
    await mkdir(join(root, "bin"));
    await copyFile("/bin/busybox", join(root, "bin", "busybox"));
    for (const applet of ["sh", "true"]) await symlink("busybox", join(root, "bin", applet));
    await run("sh", ["-c", `tar -C ${root} -c . | ${DOCKER} import - ${IMAGE}`], { timeout: 60_000 });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
const DOCKER = "/usr/bin/docker";
const NAME = `tst${randomBytes(2).toString("hex")}`;
const SOCKET = `/run/docker/plugins/${NAME}.sock`;

function docker(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(DOCKER, args, { timeout: 60_000 });
}

const calls: RecordedCall[] = [];
const statuses: Array<{ call: unknown; status: unknown }> = [];

const ipamDriver: IpamDriver = {
  getCapabilities: () => ({ RequiresMACAddress: false, RequiresRequestReplay: false }),
  getDefaultAddressSpaces: () => ({
    LocalDefaultAddressSpace: `${NAME}-local`,
    GlobalDefaultAddressSpace: `${NAME}-global`,
  }),
  async requestPool(request) {
    calls.push({ method: "requestPool", request });
    if (request.Options["tsnet.fail"] === "pool") throw new TsnetError("EXHAUSTED", "no pool for you");
    return { PoolID: `${request.AddressSpace}/${request.Pool}`, Pool: request.Pool, Data: {} };
  },
  async releasePool(request) {
    calls.push({ method: "releasePool", request });
  },
  async requestAddress(request: RequestAddressRequest) {
    calls.push({ method: "requestAddress", request });
    const prefix = request.PoolID.split("/").pop();
    const host = request.Address || request.PoolID.split("/")[1]?.replace(/\.0$/, ".1");
    return { Address: `${host}/${prefix}`, Data: {} };
  },
  async releaseAddress(request) {
    calls.push({ method: "releaseAddress", request });
  },
};

const networkDriver = {
  ...createRecordingNetworkDriver(calls),
  // no interface and no gateway: the container starts with only loopback, and no docker_gwbridge is attached, so
  // the whole endpoint lifecycle runs without this test touching the kernel
  async join(request: JoinRequest) {
    calls.push({ method: "join", request });
    return { DisableGatewayService: true };
  },
  async createNetwork(request: CreateNetworkRequest) {
    calls.push({ method: "createNetwork", request });
    if (request.Options.generic["tsnet.fail"] === "create") {
      throw new TsnetError("INVALID_ARGUMENT", 'option tsnet.fail "create" refused on purpose');
    }
  },
};

let server: ListeningServer | undefined;
const test = suite("dockerd against the plugin socket");

test.before(async () => {
  const logger = {
    debug: () => {},
    info: (fields: Record<string, unknown>) => statuses.push({ call: fields.call, status: fields.status }),
    warn: (fields: Record<string, unknown>) => statuses.push({ call: fields.call, status: fields.status }),
    error: (fields: Record<string, unknown>) => statuses.push({ call: fields.call, status: fields.status }),
    child() {
      return this;
    },
  };
  server = await listen(createPluginApp({ networkDriver, ipamDriver, logger }), SOCKET);
});

test.after(async () => {
  await docker("rm", "-f", `${NAME}-ctr`).catch(() => {});
  await docker("rmi", IMAGE).catch(() => {});
  for (const network of [`${NAME}-a`, `${NAME}-b`, `${NAME}-c`, `${NAME}-d`]) {
    await docker("network", "rm", network).catch(() => {});
  }
  await server?.close();
});

test("network create and rm: every request parses, in Docker's order", async () => {
  const network = `${NAME}-a`;
  await docker(
    "network",
    "create",
    "-d",
    NAME,
    "--ipam-driver",
    NAME,
    "--subnet",
    "10.213.7.0/24",
    "--aux-address",
    "a=10.213.7.5",
    "-o",
    "com.docker.network.driver.mtu=1400",
    "--internal",
    network,
  );
  const created = calls.find((c) => c.method === "createNetwork")?.request as CreateNetworkRequest | undefined;
  assert.ok(created, JSON.stringify(calls));
  assert.is(created?.Options.generic["com.docker.network.driver.mtu"], "1400");
  assert.is(created?.Options.internal, true);
  assert.is(created?.IPv4Data[0]?.Pool, "10.213.7.0/24");
  assert.is(created?.IPv4Data[0]?.Gateway, "10.213.7.1/24");
  assert.equal(created?.IPv4Data[0]?.AuxAddresses, { a: "10.213.7.5/24" });
  await docker("network", "rm", network);
  const order = calls.map((c) => c.method);
  assert.equal(order.slice(0, 4), ["requestPool", "requestAddress", "requestAddress", "createNetwork"]);
  assert.ok(order.includes("releasePool") && order.includes("deleteNetwork"), order.join(","));
  const refused = statuses.filter((s) => typeof s.status === "number" && s.status >= 400);
  assert.equal(refused, [], JSON.stringify(refused));
  const seen = new Set(statuses.map((s) => s.call));
  for (const call of ["Plugin.Activate", "NetworkDriver.GetCapabilities", "IpamDriver.GetCapabilities"]) {
    assert.ok(seen.has(call), `${call} never arrived: ${[...seen].join(",")}`);
  }
});

test("a driver's TsnetError reaches the docker user as NetworkDriver.CreateNetwork: <Err>", async () => {
  const failed = await docker(
    "network",
    "create",
    "-d",
    NAME,
    "--ipam-driver",
    NAME,
    "--subnet",
    "10.213.8.0/24",
    "-o",
    "tsnet.fail=create",
    `${NAME}-b`,
  ).then(
    () => undefined,
    (error: { stderr?: string }) => error.stderr ?? "",
  );
  assert.ok(failed?.includes('NetworkDriver.CreateNetwork: option tsnet.fail "create" refused on purpose'), failed);
});

test("an IPAM failure reaches the docker user too", async () => {
  const failed = await docker(
    "network",
    "create",
    "-d",
    NAME,
    "--ipam-driver",
    NAME,
    "--subnet",
    "10.213.9.0/24",
    "--ipam-opt",
    "tsnet.fail=pool",
    `${NAME}-c`,
  ).then(
    () => undefined,
    (error: { stderr?: string }) => error.stderr ?? "",
  );
  assert.ok(failed?.includes("no pool for you"), failed);
});
test("a container run: CreateEndpoint, Join, EndpointOperInfo, Leave, DeleteEndpoint all parse", async () => {
  const network = `${NAME}-d`;
  await importBusybox();
  await docker("network", "create", "-d", NAME, "--ipam-driver", NAME, "--subnet", "10.213.10.0/24", network);
  calls.length = 0;
  statuses.length = 0;
  await docker(
    "run",
    "--rm",
    "--name",
    `${NAME}-ctr`,
    "--network",
    network,
    "-p",
    "127.0.0.1:18080:80/tcp",
    IMAGE,
    "true",
  );
  await docker("network", "rm", network);
  const order = calls.map((c) => c.method);
  for (const method of ["createEndpoint", "join", "endpointOperInfo", "leave", "deleteEndpoint", "releaseAddress"]) {
    assert.ok(order.includes(method), `${method} missing: ${order.join(",")}`);
  }
  const endpoint = calls.find((c) => c.method === "createEndpoint")?.request as CreateEndpointRequest;
  assert.match(endpoint.Interface.Address, /^10\.213\.10\.\d+\/24$/);
  assert.equal(endpoint.Options.portBindings, [
    { Proto: 6, IP: "", Port: 80, HostIP: "127.0.0.1", HostPort: 18080, HostPortEnd: 18080 },
  ]);
  const joined = calls.find((c) => c.method === "join")?.request as JoinRequest;
  assert.match(joined.SandboxKey, /netns/);
  const refused = statuses.filter((s) => typeof s.status === "number" && s.status >= 400 && s.status !== 404);
  assert.equal(refused, [], JSON.stringify(refused));
});
test.run();

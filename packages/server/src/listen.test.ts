import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isTsnetError, type NetworkDriver } from "@tsnet/protocol";
import { NETWORK_DRIVER_FIXTURES } from "@tsnet/protocol/testing";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createPluginApp } from "./app.js";
import { listen } from "./listen.js";
import {
  callPlugin,
  createCountingIpamDriver,
  createRecordingNetworkDriver,
  dockerRequest,
  parseResponse,
} from "./testing.js";

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "tsnet-listen-"));
}

const test = suite("listen");

test("creates the parent directory and gives the socket mode 0660", async () => {
  const dir = await tempDir();
  const socket = join(dir, "a", "b", "tsnet.sock");
  const server = await listen(createPluginApp({}), socket);
  try {
    const info = await stat(socket);
    assert.ok(info.isSocket());
    assert.is(info.mode & 0o777, 0o660);
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("replaces a stale socket file nobody serves", async () => {
  const dir = await tempDir();
  const socket = join(dir, "tsnet.sock");
  // a socket file left behind: bind, then stop the listener without removing the file
  // a socket file left behind by a process that died without cleaning up
  const script = `require("net").createServer().listen(${JSON.stringify(socket)}, () => process.kill(process.pid, "SIGKILL"))`;
  await new Promise<void>((resolve) => spawn(process.execPath, ["-e", script]).on("exit", () => resolve()));
  assert.ok(existsSync(socket));
  const server = await listen(createPluginApp({ ipamDriver: createCountingIpamDriver() }), socket);
  try {
    const response = await callPlugin(socket, "/Plugin.Activate");
    assert.equal(response.json, { Implements: ["IpamDriver"] });
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("refuses a socket another process serves, and a path that is not a socket", async () => {
  const dir = await tempDir();
  const socket = join(dir, "tsnet.sock");
  const first = await listen(createPluginApp({}), socket);
  try {
    await listen(createPluginApp({}), socket).then(
      () => assert.unreachable("second listen succeeded"),
      (error: unknown) => {
        assert.ok(isTsnetError(error) && error.code === "CONFLICT");
        assert.is((error as Error).message, `socket "${socket}" is served by another process`);
      },
    );
    // the first server still answers
    assert.is((await callPlugin(socket, "/Plugin.Activate")).status, 200);
    const file = join(dir, "file.sock");
    await writeFile(file, "x");
    await listen(createPluginApp({}), file).then(
      () => assert.unreachable("listened over a regular file"),
      (error: unknown) => assert.ok(isTsnetError(error) && error.code === "CONFLICT"),
    );
  } finally {
    await first.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("close() lets an in-flight request finish, then removes the socket", async () => {
  const dir = await tempDir();
  const socket = join(dir, "tsnet.sock");
  let release: () => void = () => {};
  let entered: () => void = () => {};
  const inside = new Promise<void>((resolve) => {
    entered = resolve;
  });
  const driver: NetworkDriver = {
    ...createRecordingNetworkDriver(),
    async createNetwork() {
      entered();
      await new Promise<void>((resolve) => {
        release = resolve;
      });
    },
  };
  const server = await listen(createPluginApp({ networkDriver: driver }), socket);
  const pending = callPlugin(socket, "/NetworkDriver.CreateNetwork", NETWORK_DRIVER_FIXTURES.CreateNetwork);
  await inside;
  const closing = server.close();
  await new Promise((resolve) => setTimeout(resolve, 50));
  // no longer accepting
  await callPlugin(socket, "/Plugin.Activate").then(
    () => assert.unreachable("accepted a request while closing"),
    () => {},
  );
  release();
  const response = await pending;
  assert.is(response.status, 200);
  await closing;
  assert.not.ok(existsSync(socket));
  await rm(dir, { recursive: true, force: true });
});

test("drops a client that stalls mid-body, while serving others", async () => {
  const dir = await tempDir();
  const socket = join(dir, "tsnet.sock");
  const server = await listen(createPluginApp({ ipamDriver: createCountingIpamDriver() }), socket, {
    requestTimeoutMs: 300,
  });
  try {
    const started = Date.now();
    const stalled = connect(socket);
    const closedAfter = new Promise<number>((resolve) => stalled.on("close", () => resolve(Date.now() - started)));
    stalled.on("error", () => {});
    stalled.resume(); // read to the end, or "close" never comes
    stalled.write('POST /IpamDriver.RequestPool HTTP/1.1\r\nHost:\r\nContent-Length: 100\r\n\r\n{"Pool":');
    // others are served while it stalls
    for (let i = 0; i < 5; i++) {
      const response = await callPlugin(socket, "/IpamDriver.RequestAddress", { PoolID: "p", Address: "" });
      assert.is(response.status, 200);
    }
    const elapsed = await closedAfter;
    assert.ok(elapsed >= 250 && elapsed < 2_000, `dropped after ${elapsed} ms`);
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("keeps an idle keep-alive connection open past the request timeout, as dockerd expects", async () => {
  const dir = await tempDir();
  const socket = join(dir, "tsnet.sock");
  const server = await listen(createPluginApp({ ipamDriver: createCountingIpamDriver() }), socket, {
    requestTimeoutMs: 200,
  });
  const client = connect(socket);
  let received = "";
  client.setEncoding("utf8");
  client.on("data", (chunk: string) => {
    received += chunk;
  });
  const closed = new Promise<void>((resolve) => client.on("close", () => resolve()));
  try {
    await new Promise((resolve) => client.once("connect", resolve));
    const ask = async (): Promise<number | undefined> => {
      received = "";
      client.write(dockerRequest("/IpamDriver.GetCapabilities", ""));
      for (let i = 0; i < 100 && parseResponse(received) === undefined; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return parseResponse(received)?.response.status;
    };
    assert.is(await ask(), 200);
    await new Promise((resolve) => setTimeout(resolve, 700));
    assert.ok(!client.destroyed && client.readyState === "open", "idle connection was closed");
    // and no idle timeout at all by default (Node's own default would close it after 5 s)
    assert.is(await ask(), 200);
  } finally {
    await server.close();
    await closed; // close() ends idle connections too
    await rm(dir, { recursive: true, force: true });
  }
});

test("does not listen on TCP", async () => {
  const dir = await tempDir();
  await mkdir(dir, { recursive: true });
  const server = await listen(createPluginApp({}), join(dir, "tsnet.sock"));
  try {
    assert.type(server.server.address(), "string");
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
test.run();

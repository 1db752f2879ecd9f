import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { IpamDriver, Logger, NetworkDriver } from "@tsnet/protocol";
import { TsnetError } from "@tsnet/protocol";
import { IPAM_DRIVER_FIXTURES, NETWORK_DRIVER_FIXTURES, SAMPLE_NETWORK_ID } from "@tsnet/protocol/testing";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createPluginApp } from "./app.js";
import type { PluginAppOptions } from "./dispatch.js";
import { type ListeningServer, listen } from "./listen.js";
import {
  callPlugin,
  createCountingIpamDriver,
  createRecordingNetworkDriver,
  dockerRequest,
  rawRequest,
} from "./testing.js";

interface Line {
  level: string;
  fields: Record<string, unknown>;
  message: string;
}

function memoryLogger(lines: Line[]): Logger {
  const at =
    (level: string) =>
    (fields: Record<string, unknown>, message: string): void => {
      lines.push({ level, fields, message });
    };
  const logger: Logger = {
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: () => logger,
  };
  return logger;
}

interface Harness {
  socket: string;
  server: ListeningServer;
  lines: Line[];
  dir: string;
}

async function start(
  transport: "socket" | "direct" | "hono",
  options: PluginAppOptions = {},
  requestTimeoutMs?: number,
): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), "tsnet-server-"));
  const socket = join(dir, "plugins", "tsnet.sock");
  const lines: Line[] = [];
  const app = createPluginApp({ logger: memoryLogger(lines), ...options });
  const server = await listen(app, socket, { requestTimeoutMs, transport });
  return { socket, server, lines, dir };
}

async function stop(h: Harness): Promise<void> {
  await h.server.close();
  await rm(h.dir, { recursive: true, force: true });
}

const both = (): PluginAppOptions => ({
  networkDriver: createRecordingNetworkDriver(),
  ipamDriver: createCountingIpamDriver(),
});

for (const transport of ["socket", "direct", "hono"] as const) {
  const http = suite(`plugin app over a unix socket (${transport})`);

  http("Plugin.Activate lists exactly the interfaces composed in", async () => {
    for (const [options, expected] of [
      [both(), ["NetworkDriver", "IpamDriver"]],
      [{ ipamDriver: createCountingIpamDriver() }, ["IpamDriver"]],
      [{}, []],
    ] as Array<[PluginAppOptions, string[]]>) {
      const h = await start(transport, options);
      try {
        const response = await callPlugin(h.socket, "/Plugin.Activate");
        assert.is(response.status, 200);
        assert.equal(response.json, { Implements: expected });
      } finally {
        await stop(h);
      }
    }
  });

  http("accepts any Host header: empty (dockerd 20.10.24), plugin.moby.localhost, a socket path", async () => {
    const h = await start(transport, both());
    try {
      for (const host of ["", "plugin.moby.localhost", "/run/docker/plugins/tsnet.sock", "x y"]) {
        const response = await rawRequest(h.socket, dockerRequest("/NetworkDriver.GetCapabilities", "", host));
        assert.is(response.status, 200, `Host: ${host}`);
        assert.equal(response.json, { Scope: "local", ConnectivityScope: "local" });
      }
      const bare = await rawRequest(h.socket, "POST /IpamDriver.GetCapabilities HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
      assert.is(bare.status, 200);
    } finally {
      await stop(h);
    }
  });

  http("serves every call of both tables with its fixture, 200 and a JSON body", async () => {
    const h = await start(transport, both());
    try {
      for (const [method, body] of Object.entries(NETWORK_DRIVER_FIXTURES)) {
        const response = await callPlugin(h.socket, `/NetworkDriver.${method}`, body);
        const tolerated = [
          "ProgramExternalConnectivity",
          "RevokeExternalConnectivity",
          "AllocateNetwork",
          "FreeNetwork",
        ];
        assert.is(response.status, tolerated.includes(method) ? 404 : 200, method);
        assert.ok(response.json !== undefined, method);
      }
      for (const [method, body] of Object.entries(IPAM_DRIVER_FIXTURES)) {
        const response = await callPlugin(h.socket, `/IpamDriver.${method}`, body);
        assert.is(response.status, 200, method);
        assert.ok(response.json !== undefined, method);
      }
      const discover = await callPlugin(h.socket, "/NetworkDriver.DiscoverNew", NETWORK_DRIVER_FIXTURES.DiscoverNew);
      assert.equal(discover.json, {});
      const address = await callPlugin(h.socket, "/IpamDriver.RequestAddress", IPAM_DRIVER_FIXTURES.RequestAddress);
      assert.match((address.json as { Address: string }).Address, /^10\.99\.0\.\d+\/24$/);
    } finally {
      await stop(h);
    }
  });

  http("refuses an empty body on a call that needs one, with Err and Error", async () => {
    const h = await start(transport, both());
    try {
      const response = await callPlugin(h.socket, "/NetworkDriver.CreateNetwork");
      assert.is(response.status, 400);
      assert.equal(response.json, {
        Err: "CreateNetwork: request body is empty",
        Error: "CreateNetwork: request body is empty",
      });
    } finally {
      await stop(h);
    }
  });

  http("bad JSON → 400, wrong types → 400 naming the field", async () => {
    const h = await start(transport, both());
    try {
      const bad = await rawRequest(h.socket, dockerRequest("/NetworkDriver.Join", '{"NetworkID": '));
      assert.is(bad.status, 400);
      assert.match((bad.json as { Err: string }).Err, /^NetworkDriver\.Join: request body is not JSON/);
      const wrong = await callPlugin(h.socket, "/IpamDriver.RequestPool", { Pool: 10, V6: false });
      assert.is(wrong.status, 400);
      assert.equal(wrong.json, {
        Err: "RequestPool: Pool 10 is not a string",
        Error: "RequestPool: Pool 10 is not a string",
      });
    } finally {
      await stop(h);
    }
  });

  http("a body over 1 MiB → 413, by Content-Length or by streamed size", async () => {
    const h = await start(transport, both());
    try {
      const declared = await rawRequest(
        h.socket,
        `POST /NetworkDriver.CreateNetwork HTTP/1.1\r\nHost:\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n{"a":`,
      );
      assert.is(declared.status, 413);
      assert.is(declared.headers.connection, "close");
      const chunk = "x".repeat(64 * 1024);
      let chunked = "POST /NetworkDriver.CreateNetwork HTTP/1.1\r\nHost:\r\nTransfer-Encoding: chunked\r\n\r\n";
      for (let i = 0; i < 20; i++) chunked += `${chunk.length.toString(16)}\r\n${chunk}\r\n`;
      chunked += "0\r\n\r\n";
      const streamed = await rawRequest(h.socket, chunked);
      assert.is(streamed.status, 413);
      const after = await callPlugin(h.socket, "/Plugin.Activate");
      assert.is(after.status, 200);
    } finally {
      await stop(h);
    }
  });

  http("unknown call → 404 with Err; GET → 405", async () => {
    const h = await start(transport, both());
    try {
      const unknown = await callPlugin(h.socket, "/NetworkDriver.Frobnicate", {});
      assert.is(unknown.status, 404);
      assert.is((unknown.json as { Err: string }).Err, "NetworkDriver.Frobnicate is not a call this plugin implements");
      const get = await rawRequest(h.socket, "GET /Plugin.Activate HTTP/1.1\r\nHost:\r\n\r\n");
      assert.is(get.status, 405);
      assert.is(get.headers.allow, "POST");
      assert.ok((get.json as { Err?: string }).Err);
      const ipamOnly = await start(transport, { ipamDriver: createCountingIpamDriver() });
      try {
        const missing = await callPlugin(ipamOnly.socket, "/NetworkDriver.GetCapabilities");
        assert.is(missing.status, 404);
      } finally {
        await stop(ipamOnly);
      }
    } finally {
      await stop(h);
    }
  });

  http("Program/Revoke absent on the driver → 404, which Docker takes as success", async () => {
    const h = await start(transport, both());
    try {
      const program = await callPlugin(h.socket, "/NetworkDriver.ProgramExternalConnectivity");
      assert.is(program.status, 404);
      const revoke = await callPlugin(
        h.socket,
        "/NetworkDriver.RevokeExternalConnectivity",
        NETWORK_DRIVER_FIXTURES.RevokeExternalConnectivity,
      );
      assert.is(revoke.status, 404);
    } finally {
      await stop(h);
    }
  });

  http(
    "a handler throwing a plain Error → 500 with Err, a log line with the stack, and the server keeps serving",
    async () => {
      const driver: NetworkDriver = {
        ...createRecordingNetworkDriver(),
        async createNetwork() {
          throw new Error("boom");
        },
      };
      const h = await start(transport, { networkDriver: driver });
      try {
        const failed = await callPlugin(
          h.socket,
          "/NetworkDriver.CreateNetwork",
          NETWORK_DRIVER_FIXTURES.CreateNetwork,
        );
        assert.is(failed.status, 500);
        assert.equal(failed.json, { Err: "boom", Error: "boom" });
        const logged = h.lines.find((line) => line.level === "error" && typeof line.fields.stack === "string");
        assert.ok(logged, JSON.stringify(h.lines));
        assert.match(String(logged?.fields.stack), /boom/);
        const next = await callPlugin(h.socket, "/NetworkDriver.GetCapabilities");
        assert.is(next.status, 200);
      } finally {
        await stop(h);
      }
    },
  );

  http("TsnetError codes map to statuses; IPAM failures carry Error", async () => {
    const ipam: IpamDriver = {
      ...createCountingIpamDriver(),
      async requestAddress() {
        throw new TsnetError("EXHAUSTED", 'pool "10.99.0.0/24" has no free address');
      },
      async requestPool() {
        throw new TsnetError("CONFLICT", "pool overlaps");
      },
    };
    const h = await start(transport, { ipamDriver: ipam });
    try {
      const exhausted = await callPlugin(h.socket, "/IpamDriver.RequestAddress", IPAM_DRIVER_FIXTURES.RequestAddress);
      assert.is(exhausted.status, 429);
      assert.is((exhausted.json as { Error: string }).Error, 'pool "10.99.0.0/24" has no free address');
      const conflict = await callPlugin(h.socket, "/IpamDriver.RequestPool", IPAM_DRIVER_FIXTURES.RequestPool);
      assert.is(conflict.status, 409);
    } finally {
      await stop(h);
    }
  });

  http("a handler past its deadline → 503, and its signal is aborted", async () => {
    let aborted: Promise<unknown> | undefined;
    const driver: NetworkDriver = {
      ...createRecordingNetworkDriver(),
      join(_request, context) {
        aborted = new Promise((resolve) =>
          context.signal.addEventListener("abort", () => resolve(context.signal.reason)),
        );
        return new Promise(() => {});
      },
    };
    const h = await start(transport, { networkDriver: driver, timeoutMs: 150 });
    try {
      const response = await callPlugin(h.socket, "/NetworkDriver.Join", NETWORK_DRIVER_FIXTURES.Join);
      assert.is(response.status, 503);
      assert.is((response.json as { Err: string }).Err, "NetworkDriver.Join timed out after 150 ms");
      assert.ok(await aborted);
    } finally {
      await stop(h);
    }
  });

  http("a client that goes away aborts the handler's signal", async () => {
    let sawAbort: (reason: unknown) => void = () => {};
    const aborted = new Promise<unknown>((resolve) => {
      sawAbort = resolve;
    });
    let entered: () => void = () => {};
    const inside = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const driver: NetworkDriver = {
      ...createRecordingNetworkDriver(),
      join(_request, context) {
        context.signal.addEventListener("abort", () => sawAbort(context.signal.reason));
        entered();
        return new Promise(() => {});
      },
    };
    const h = await start(transport, { networkDriver: driver });
    try {
      const client = connect(h.socket);
      client.on("error", () => {});
      client.write(dockerRequest("/NetworkDriver.Join", `${JSON.stringify(NETWORK_DRIVER_FIXTURES.Join)}\n`));
      await inside;
      client.destroy();
      const reason = await Promise.race([
        aborted,
        new Promise((resolve) => setTimeout(() => resolve("not aborted"), 2_000)),
      ]);
      assert.is.not(reason, "not aborted");
    } finally {
      await stop(h);
    }
  });

  http("logs one line per request with the call, short IDs, status and duration", async () => {
    const h = await start(transport, both());
    try {
      await callPlugin(h.socket, "/NetworkDriver.DeleteNetwork", NETWORK_DRIVER_FIXTURES.DeleteNetwork);
      const line = h.lines.find((l) => l.message === "request" && l.fields.call === "NetworkDriver.DeleteNetwork");
      assert.ok(line);
      assert.is(line?.fields.networkId, SAMPLE_NETWORK_ID.slice(0, 12));
      assert.is(line?.fields.status, 200);
      assert.type(line?.fields.durationMs, "number");
      assert.is(h.lines.filter((l) => l.message === "request").length, 1);
    } finally {
      await stop(h);
    }
  });

  http("answers 100 concurrent requests", async () => {
    const h = await start(transport, both());
    try {
      const responses = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          callPlugin(h.socket, "/IpamDriver.RequestAddress", { PoolID: "p", Address: `10.99.0.${i + 1}` }),
        ),
      );
      assert.equal(
        responses.map((r) => r.status),
        Array.from({ length: 100 }, () => 200),
      );
      assert.equal(new Set(responses.map((r) => (r.json as { Address: string }).Address)).size, 100);
    } finally {
      await stop(h);
    }
  });
  http.run();
}

const inProcess = suite("plugin app without a socket (app.request)");

inProcess("answers through Hono's fetch with the same semantics", async () => {
  const app = createPluginApp({ ipamDriver: createCountingIpamDriver() });
  const activate = await app.request("/Plugin.Activate", { method: "POST" });
  assert.is(activate.status, 200);
  assert.equal(await activate.json(), { Implements: ["IpamDriver"] });
  const empty = await app.request("/IpamDriver.RequestAddress", { method: "POST" });
  assert.is(empty.status, 400);
  assert.equal(await empty.json(), {
    Err: "RequestAddress: request body is empty",
    Error: "RequestAddress: request body is empty",
  });
  const big = await app.request("/IpamDriver.RequestPool", { method: "POST", body: "x".repeat(2 * 1024 * 1024) });
  assert.is(big.status, 413);
  const address = await app.request("/IpamDriver.RequestAddress", {
    method: "POST",
    body: JSON.stringify(IPAM_DRIVER_FIXTURES.RequestAddress),
  });
  assert.is(address.status, 200);
  assert.is(address.headers.get("content-type"), "application/json");
});
inProcess.run();

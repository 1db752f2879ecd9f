import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NetworkDriver } from "@tsnet/protocol";
import { NETWORK_DRIVER_FIXTURES } from "@tsnet/protocol/testing";
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createPluginApp } from "./app.js";
import { type ListeningServer, listen } from "./listen.js";
import {
  callPlugin,
  createCountingIpamDriver,
  createRecordingNetworkDriver,
  dockerRequest,
  parseResponse,
  type RawResponse,
} from "./testing.js";

interface Context {
  dir: string;
  socket: string;
  server: ListeningServer;
}

const test = suite<Context>("HTTP/1.1 of the socket transport (raw bytes)");

test.before.each(async (context) => {
  context.dir = await mkdtemp(join(tmpdir(), "tsnet-http1-"));
  context.socket = join(context.dir, "tsnet.sock");
  const app = createPluginApp({
    networkDriver: createRecordingNetworkDriver(),
    ipamDriver: createCountingIpamDriver(),
  });
  context.server = await listen(app, context.socket, { requestTimeoutMs: 300, transport: "socket" });
});
test.after.each(async ({ dir, server }) => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

/**
 * Writes `parts` one by one (a pause between them, so each is its own read on the server), then collects every
 * response until `count` arrived or the server closed. Resolves with the responses and whether it closed.
 */
function exchange(
  socketPath: string,
  parts: ReadonlyArray<string | Buffer>,
  count: number,
  endAfter = false,
): Promise<{ responses: RawResponse[]; closed: boolean; raw: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let raw = "";
    let data = "";
    const responses: RawResponse[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`timed out with ${responses.length} responses: ${JSON.stringify(raw)}`));
    }, 3_000);
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ responses, closed, raw });
    };
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      raw += chunk;
      data += chunk;
      for (let parsed = parseResponse(data); parsed !== undefined; parsed = parseResponse(data)) {
        responses.push(parsed.response);
        data = parsed.rest;
      }
      if (responses.length >= count) finish(false);
    });
    socket.on("error", () => {});
    socket.on("close", () => finish(true));
    socket.once("connect", async () => {
      for (const part of parts) {
        if (socket.destroyed) return;
        socket.write(part);
        await new Promise((wait) => setTimeout(wait, 5));
      }
      if (endAfter && !socket.destroyed) socket.end();
    });
  });
}

const capabilities = dockerRequest("/NetworkDriver.GetCapabilities", "");
const pool = (body: string) => dockerRequest("/IpamDriver.RequestPool", body);

test("a request arriving in many small pieces is read whole", async ({ socket }) => {
  const bytes = pool('{"AddressSpace":"LocalDefault","Pool":"10.9.0.0/16"}');
  const pieces = Array.from({ length: Math.ceil(bytes.length / 7) }, (_, i) => bytes.slice(i * 7, i * 7 + 7));
  const { responses } = await exchange(socket, pieces, 1);
  assert.is(responses[0]?.status, 200, responses[0]?.body);
});

test("thousands of pipelined requests answered directly are all answered, in order", async ({ socket }) => {
  // Plugin.Activate answers directly (no promise): each reply is written while the next request is still in the
  // buffer, so the server must loop over a read's requests, not recurse once per request.
  const count = 5000;
  const smallest = "POST /Plugin.Activate HTTP/1.1\r\n\r\n"; // ~1800 to a 64 KiB read
  const { responses } = await exchange(socket, [smallest.repeat(count)], count);
  assert.is(responses.length, count);
  assert.ok(responses.every((response) => response.status === 200));
});

test("pipelined requests in one write are answered in order on one connection", async ({ socket }) => {
  const { responses, closed } = await exchange(
    socket,
    [capabilities + pool('{"AddressSpace":"x"}') + dockerRequest("/NetworkDriver.Nope", "{}") + capabilities],
    4,
  );
  assert.equal(
    responses.map((response) => response.status),
    [200, 200, 404, 200],
  );
  assert.is(closed, false);
});

test("a chunked body, with an extension and a trailer, is decoded", async ({ socket }) => {
  const body = '{"AddressSpace":"LocalDefault","Pool":"10.8.0.0/16"}';
  const chunked =
    "POST /IpamDriver.RequestPool HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
    `5;ext=1\r\n${body.slice(0, 5)}\r\n${(body.length - 5).toString(16)}\r\n${body.slice(5)}\r\n0\r\nX-Trailer: y\r\n\r\n`;
  const { responses } = await exchange(socket, [chunked.slice(0, 70), chunked.slice(70)], 1);
  assert.is(responses[0]?.status, 200, responses[0]?.body);
  assert.match(String(responses[0]?.body), /10\.8\.0\.0\/16/);
});

test("Expect: 100-continue gets 100 Continue before the body is sent", async ({ socket }) => {
  const body = '{"AddressSpace":"LocalDefault"}';
  const head = `POST /IpamDriver.RequestPool HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\n\r\n`;
  const { responses } = await exchange(socket, [head, body], 2);
  assert.equal(
    responses.map((response) => response.status),
    [100, 200],
  );
});

test("Connection: close and HTTP/1.0 close after the reply; HTTP/1.0 keep-alive does not", async ({ socket }) => {
  const closing = await exchange(socket, [capabilities.replace("Host: ", "Connection: close\r\nHost: ")], 2);
  assert.equal([closing.responses.length, closing.closed], [1, true]);
  assert.is(closing.responses[0]?.headers.connection, "close");
  const old = await exchange(socket, ["POST /NetworkDriver.GetCapabilities HTTP/1.0\r\n\r\n"], 2);
  assert.equal([old.responses[0]?.status, old.closed], [200, true]);
  const kept = await exchange(
    socket,
    ["POST /NetworkDriver.GetCapabilities HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", capabilities],
    2,
  );
  assert.equal([kept.responses.length, kept.closed], [2, false]);
});

test("malformed requests get 400 and a closed connection; the server keeps serving", async ({ socket }) => {
  for (const bad of [
    "GARBAGE\r\n\r\n",
    "POST /NetworkDriver.GetCapabilities HTTP/2.0\r\n\r\n",
    "POST /NetworkDriver.GetCapabilities HTTP/1.1\r\nNo colon here\r\n\r\n",
    "POST /NetworkDriver.GetCapabilities HTTP/1.1\r\nBad Name: x\r\n\r\n",
    "POST /x HTTP/1.1\r\nContent-Length: 12x\r\n\r\n",
    "POST /x HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "POST /x HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
  ]) {
    const { responses, closed } = await exchange(socket, [bad], 2);
    assert.equal([responses[0]?.status, closed], [400, true], JSON.stringify(bad));
    assert.match(String(responses[0]?.body), /"Err"/);
  }
  const gzip = await exchange(socket, ["POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"], 2);
  assert.equal([gzip.responses[0]?.status, gzip.closed], [501, true]);
  assert.is((await callPlugin(socket, "/NetworkDriver.GetCapabilities")).status, 200);
});

test("a head over 16 KiB gets 431; a body over the cap gets 413 before it is sent", async ({ socket }) => {
  const big = await exchange(socket, [`POST /x HTTP/1.1\r\nX-Big: ${"a".repeat(17 * 1024)}\r\n\r\n`], 2);
  assert.equal([big.responses[0]?.status, big.closed], [431, true]);
  const endless = await exchange(socket, ["POST /x HTTP/1.1\r\nX: ", "a".repeat(20 * 1024)], 2);
  assert.equal([endless.responses[0]?.status, endless.closed], [431, true]);
  const huge = await exchange(socket, ["POST /IpamDriver.RequestPool HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n"], 2);
  assert.equal([huge.responses[0]?.status, huge.closed], [413, true]);
  const chunkedHuge = await exchange(
    socket,
    ["POST /IpamDriver.RequestPool HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n200000\r\n"],
    2,
  );
  assert.equal([chunkedHuge.responses[0]?.status, chunkedHuge.closed], [413, true]);
});

test("a client that sends FIN right after its request still gets the reply", async ({ socket }) => {
  const { responses, closed } = await exchange(socket, [capabilities + capabilities], 3, true);
  assert.equal([responses.map((response) => response.status), closed], [[200, 200], true]);
});

test("a request that stalls gets 408 after requestTimeoutMs, also when it follows a pipelined one", async ({
  socket,
}) => {
  const started = Date.now();
  const { responses, closed } = await exchange(socket, [`${capabilities}POST /x HTTP/1.1\r\nContent-Le`], 3);
  const elapsed = Date.now() - started;
  assert.equal(
    responses.map((response) => response.status),
    [200, 408],
  );
  assert.ok(closed && elapsed >= 250 && elapsed < 2_000, `closed after ${elapsed} ms`);
});

test("a pipelined request waiting behind a slow handler is not timed out", async ({ dir }) => {
  const socket = join(dir, "slow.sock");
  const slow: NetworkDriver = {
    ...createRecordingNetworkDriver(),
    async join() {
      await new Promise((resolve) => setTimeout(resolve, 500));
      return {};
    },
  };
  const server = await listen(createPluginApp({ networkDriver: slow }), socket, { requestTimeoutMs: 300 });
  try {
    const join = dockerRequest("/NetworkDriver.Join", `${JSON.stringify(NETWORK_DRIVER_FIXTURES.Join)}\n`);
    const { responses, closed } = await exchange(socket, [join + capabilities], 2);
    assert.equal([responses.map((response) => response.status), closed], [[200, 200], false]);
  } finally {
    await server.close();
  }
});

test("random bytes never take the server down: each connection gets a reply or is closed", async ({ socket }) => {
  const fragments = fc.oneof(
    fc.string({ maxLength: 80 }),
    fc.constantFrom(
      "POST /NetworkDriver.GetCapabilities HTTP/1.1\r\n",
      "Content-Length: 3\r\n",
      "Transfer-Encoding: chunked\r\n",
      "Expect: 100-continue\r\n",
      "\r\n",
      "0\r\n\r\n",
      "{}",
      "GET / HTTP/1.0\r\n\r\n",
    ),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(fragments, { minLength: 1, maxLength: 8 }), async (parts) => {
      // The client ends its side after the parts: every whole request is answered, then the server closes.
      const outcome = await exchange(socket, parts, 20, true).catch((error: Error) => error);
      assert.ok(!(outcome instanceof Error), String(outcome));
      for (const response of (outcome as { responses: RawResponse[] }).responses) {
        assert.ok([100, 200, 400, 404, 405, 408, 413, 431, 501].includes(response.status), String(response.status));
      }
    }),
    { numRuns: 60 },
  );
  assert.is((await callPlugin(socket, "/NetworkDriver.GetCapabilities")).status, 200);
});

test.run();

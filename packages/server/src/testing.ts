/**
 * Helpers for tests of anything served over a plugin socket: in-memory drivers that record their calls, and a raw
 * HTTP/1.1 client that sends exactly the bytes dockerd sends (empty `Host:`, no Content-Type).
 */
import { connect } from "node:net";
import type {
  CallContext,
  IpamDriver,
  NetworkDriver,
  RequestAddressRequest,
  RequestPoolRequest,
} from "@tsnet/protocol";

/** One recorded driver call: method name and validated request. */
export interface RecordedCall {
  method: string;
  request: unknown;
}

/** A NetworkDriver that records every call and answers the smallest valid reply. */
export function createRecordingNetworkDriver(calls: RecordedCall[] = []): NetworkDriver & { calls: RecordedCall[] } {
  const record = (method: string) => async (request: unknown, _context: CallContext) => {
    calls.push({ method, request });
  };
  return {
    calls,
    getCapabilities: () => ({ Scope: "local", ConnectivityScope: "local" }),
    createNetwork: record("createNetwork"),
    deleteNetwork: record("deleteNetwork"),
    async createEndpoint(request) {
      calls.push({ method: "createEndpoint", request });
      return {};
    },
    deleteEndpoint: record("deleteEndpoint"),
    async endpointOperInfo(request) {
      calls.push({ method: "endpointOperInfo", request });
      return { Value: {} };
    },
    async join(request) {
      calls.push({ method: "join", request });
      return { InterfaceName: { SrcName: `tsve-${request.EndpointID.slice(0, 7)}`, DstPrefix: "eth" } };
    },
    leave: record("leave"),
  };
}

/** An IpamDriver that hands out `.2`, `.3`, ... of any /24 pool, in memory; enough for server tests and benchmarks. */
export function createCountingIpamDriver(calls: RecordedCall[] = []): IpamDriver & { calls: RecordedCall[] } {
  let next = 2;
  return {
    calls,
    getCapabilities: () => ({ RequiresMACAddress: false, RequiresRequestReplay: false }),
    getDefaultAddressSpaces: () => ({
      LocalDefaultAddressSpace: "tsnet-local",
      GlobalDefaultAddressSpace: "tsnet-global",
    }),
    async requestPool(request: RequestPoolRequest) {
      calls.push({ method: "requestPool", request });
      const pool = request.Pool || "10.99.0.0/24";
      return { PoolID: `${request.AddressSpace}/${pool}`, Pool: pool, Data: {} };
    },
    async releasePool(request) {
      calls.push({ method: "releasePool", request });
    },
    async requestAddress(request: RequestAddressRequest) {
      const host = request.Address || `10.99.0.${(next++ % 250) + 2}`;
      return { Address: `${host}/24`, Data: {} };
    },
    async releaseAddress(request) {
      calls.push({ method: "releaseAddress", request });
    },
  };
}

/** A reply read off the wire. */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The parsed body, or undefined when it is not JSON. */
  json: unknown;
}

/** Formats a request exactly as dockerd 20.10.24 does (header order included); `host` defaults to empty. */
export function dockerRequest(path: string, body: string, host = ""): string {
  return (
    `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `Accept: application/vnd.docker.plugins.v1.2+json\r\n\r\n${body}`
  );
}

/** Parses one HTTP/1.1 response with a Content-Length body from the front of `data`; undefined if incomplete. */
export function parseResponse(data: string): { response: RawResponse; rest: string } | undefined {
  const end = data.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const lines = data.slice(0, end).split("\r\n");
  const status = Number((lines[0] ?? "").split(" ")[1]);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = Number(headers["content-length"] ?? 0);
  const bodyBytes = Buffer.from(data.slice(end + 4), "utf8");
  if (bodyBytes.length < length) return undefined;
  const body = bodyBytes.subarray(0, length).toString("utf8");
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  return { response: { status, headers, body, json }, rest: bodyBytes.subarray(length).toString("utf8") };
}

/**
 * Sends raw bytes over a unix socket and resolves with the first response. Rejects if the server closes the
 * connection first, or after `timeoutMs`.
 */
export function rawRequest(socketPath: string, bytes: string, timeoutMs = 5_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let data = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no response within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write(bytes));
    socket.on("data", (chunk: string) => {
      data += chunk;
      const parsed = parseResponse(data);
      if (parsed) {
        clearTimeout(timer);
        socket.destroy();
        resolve(parsed.response);
      }
    });
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      reject(new Error(`connection closed before a response; got ${JSON.stringify(data.slice(0, 200))}`));
    });
  });
}

/** Calls `/Interface.Method` the way dockerd does: JSON plus newline, empty Host; `undefined` body → empty body. */
export function callPlugin(socketPath: string, path: string, body?: unknown): Promise<RawResponse> {
  return rawRequest(socketPath, dockerRequest(path, body === undefined ? "" : `${JSON.stringify(body)}\n`));
}

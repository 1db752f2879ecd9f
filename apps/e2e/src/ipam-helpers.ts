// Helpers of the IPAM e2e suites (ipam-*.docker.test.ts, crash-ipam.docker.test.ts): typed IpamDriver calls over a
// daemon's unix socket, as dockerd makes them, on one keep-alive agent so thousands of calls reuse connections.
import { execFileSync } from "node:child_process";
import { Agent, request } from "node:http";

/** One IpamDriver reply: the HTTP status and the parsed JSON body (`{}` when the body is not JSON). */
export interface IpamReply {
  status: number;
  body: Record<string, unknown>;
  /** The raw body text. */
  text: string;
}

/** Keep-alive connections, up to 64 per socket: the crash test's 32 clients each keep one. */
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/**
 * POSTs `/IpamDriver.<call>` (or any `call` containing a dot, e.g. `Plugin.Activate`) with `body` (an object is
 * sent as JSON, a string as is) to a unix socket. Rejects only on transport failure or timeout (a killed daemon).
 */
export function ipamCall(socketPath: string, call: string, body: unknown = {}, timeoutMs = 10_000): Promise<IpamReply> {
  const path = call.includes(".") ? `/${call}` : `/IpamDriver.${call}`;
  const payload = typeof body === "string" ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        agent,
        method: "POST",
        path,
        headers: {
          Accept: "application/vnd.docker.plugins.v1.2+json",
          "Content-Type": "application/json",
          "Content-Length": Buffer.byteLength(payload),
        },
        timeout: timeoutMs,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () => {
          let parsed: Record<string, unknown> = {};
          try {
            const value: unknown = JSON.parse(text);
            if (value !== null && typeof value === "object") parsed = value as Record<string, unknown>;
          } catch {
            // not JSON: the raw text is still in `text`
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, text });
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${path} on ${socketPath}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(payload);
  });
}

/** Drops idle keep-alive connections (call before a test process ends, or after a daemon died). */
export function closeIpamConnections(): void {
  agent.destroy();
}

/** A RequestPool body with Docker's defaults filled in. */
export function poolRequest(
  fields: {
    Pool?: string;
    SubPool?: string;
    V6?: boolean;
    Options?: Record<string, string>;
    AddressSpace?: string;
  } = {},
): Record<string, unknown> {
  return {
    AddressSpace: fields.AddressSpace ?? "LocalDefault",
    Pool: fields.Pool ?? "",
    SubPool: fields.SubPool ?? "",
    Options: fields.Options ?? {},
    V6: fields.V6 ?? false,
  };
}

/** The error message of a failure reply: IpamDriver replies are read for `Error`, NetworkDriver ones for `Err`. */
export function errorText(reply: IpamReply): string {
  const value = reply.body.Error ?? reply.body.Err;
  return typeof value === "string" ? value : reply.text;
}

/** IPv4 dotted quad → number. */
export function ipv4ToNumber(address: string): number {
  return address.split(".").reduce((sum, part) => sum * 256 + Number(part), 0);
}

/** Number → IPv4 dotted quad. */
export function numberToIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

/** The host's IPv4 routes' destinations (CIDRs, default route left out), from `ip -4 route show table all`. */
export function hostRoutes4(): string[] {
  const text = execFileSync("ip", ["-4", "route", "show", "table", "all"], { encoding: "utf8" });
  const cidrs = new Set<string>();
  for (const line of text.split("\n")) {
    const first = line.trim().split(/\s+/)[0] ?? "";
    const candidate = ["local", "broadcast", "unicast", "multicast"].includes(first)
      ? (line.trim().split(/\s+/)[1] ?? "")
      : first;
    if (!/^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(candidate)) continue;
    cidrs.add(candidate.includes("/") ? candidate : `${candidate}/32`);
  }
  return [...cidrs];
}

/** True when two IPv4 CIDRs share an address. */
export function overlaps4(a: string, b: string): boolean {
  const range = (cidr: string): [number, number] => {
    const [address = "", bits = "32"] = cidr.split("/");
    const size = 2 ** (32 - Number(bits));
    const start = Math.floor(ipv4ToNumber(address) / size) * size;
    return [start, start + size - 1];
  };
  const [aStart, aEnd] = range(a);
  const [bStart, bEnd] = range(b);
  return aStart <= bEnd && bStart <= aEnd;
}

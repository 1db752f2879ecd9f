// Helpers of the IPAM e2e suites (ipam-*.docker.test.ts, crash-ipam.docker.test.ts): typed IpamDriver calls over a
// daemon's unix socket, as dockerd makes them, on one keep-alive agent so thousands of calls reuse connections.
import { execFileSync } from "node:child_process";
import { Agent, request } from "node:http";
import * as assert from "uvu/assert";
import {
  containerAddress,
  containerAddress6,
  createNetwork,
  docker,
  type NetworkSpec,
  runContainer,
} from "./harness.js";

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

/**
 * The host's IPv4 routes' destinations in the main table (CIDRs, default route left out), from `ip -4 route show`:
 * what the IPAM reads from /proc/net/route.
 */
export function hostRoutes4(): string[] {
  const text = execFileSync("ip", ["-4", "route", "show"], { encoding: "utf8" });
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

/** Docker 20.10's local default pools in order: 172.17-172.31.0.0/16, then 192.168.0.0/16 cut into /20s. */
export function dockerDefaultPools(): string[] {
  const pools: string[] = [];
  for (let second = 17; second <= 31; second++) pools.push(`172.${second}.0.0/16`);
  for (let third = 0; third < 256; third += 16) pools.push(`192.168.${third}.0/20`);
  return pools;
}

/** One `--subnet` entry of a network as `docker network inspect` shows it. */
export interface IpamConfigEntry {
  Subnet?: string;
  IPRange?: string;
  Gateway?: string;
  AuxiliaryAddresses?: Record<string, string>;
}

/** A network's IPAM driver and config entries, from `docker network inspect`. */
export async function networkIpam(network: string): Promise<{ driver: string; config: IpamConfigEntry[] }> {
  const ipam = JSON.parse(await docker(["network", "inspect", "--format", "{{json .IPAM}}", network])) as {
    Driver: string;
    Config: IpamConfigEntry[] | null;
  };
  return { driver: ipam.Driver, config: ipam.Config ?? [] };
}

/** The address `offset` above the network address of a /24, e.g. at("10.210.3.0/24", 5) = "10.210.3.5". */
export function at(subnet: string, offset: number): string {
  return subnet.replace(/0\/24$/, String(offset));
}

/** A step of a case: start a container (optionally with `--ip`/`--ip6`), or remove the n-th started one. */
export type Step = { ip?: string; ip6?: string } | { rm: number };

export interface Outcome {
  config: string;
  /** The gateways the first container was given, "v4 v6" (v6 empty when none): Docker's inspect shows no
   * `Gateway` in the IPAM config unless the user gave one. */
  gateway: string;
  /** Per started container: "v4 v6" (v6 empty when none), or "error: TEXT" when `docker run` failed. */
  addresses: string[];
}

/** Creates the network, runs the steps, records what Docker shows, and removes it all again. */
export async function runCase(spec: NetworkSpec, steps: readonly Step[]): Promise<Outcome> {
  const network = await createNetwork(spec);
  const { config } = await networkIpam(network.name);
  const addresses: string[] = [];
  const started: string[] = [];
  let gateway = "";
  try {
    for (const step of steps) {
      if ("rm" in step) {
        await docker(["rm", "-f", started[step.rm] ?? "missing"]);
        continue;
      }
      try {
        const container = await runContainer({
          network: network.name,
          ...(step.ip ? { ip: step.ip } : {}),
          ...(step.ip6 ? { ip6: step.ip6 } : {}),
        });
        started.push(container.name);
        if (gateway === "") gateway = await containerGateways(container.name, network.name);
        const v4 = await containerAddress(container.name, network.name);
        const v6 = await containerAddress6(container.name, network.name);
        addresses.push(`${v4} ${v6}`.trim());
      } catch (error) {
        // docker run leaves a created container behind when the network attach fails
        addresses.push(`error: ${String(error)}`);
      }
    }
  } finally {
    const ours = (await docker(["ps", "-aq", "--filter", `network=${network.name}`])).split("\n").filter(Boolean);
    if (ours.length > 0) await docker(["rm", "-f", ...ours]);
    await docker(["network", "rm", network.name]);
  }
  const shown = config
    .map((entry) =>
      [
        entry.Subnet ?? "",
        `range=${entry.IPRange ?? ""}`,
        `gw=${entry.Gateway ?? ""}`,
        `aux=${JSON.stringify(entry.AuxiliaryAddresses ?? {})}`,
      ].join(" "),
    )
    .sort()
    .join("; ");
  return { config: shown, gateway, addresses };
}

/** "GATEWAY IPV6GATEWAY" of a container on a network, as Docker reports them. */
export async function containerGateways(container: string, network: string): Promise<string> {
  const key = JSON.stringify(network);
  const format = `{{(index .NetworkSettings.Networks ${key}).Gateway}} {{(index .NetworkSettings.Networks ${key}).IPv6Gateway}}`;
  return (await docker(["inspect", "--format", format, container])).trim();
}

/**
 * Runs a case under Docker's bridge with the default IPAM, then with the IPAM plugin `ipamDriver`, and asserts Docker
 * shows the same config, gateway and addresses (a failed `docker run` compares as "error", whatever its text).
 * Resolves with the plugin's outcome.
 */
export async function compareWithDefault(
  ipamDriver: string,
  spec: NetworkSpec,
  steps: readonly Step[],
): Promise<Outcome> {
  const name = ipamDriver;
  const dockers = await runCase({ ...spec, driver: "bridge" }, steps);
  const ours = await runCase({ ...spec, driver: "bridge", ipamDriver: name }, steps);
  assert.is(ours.config, dockers.config, "docker network inspect shows the same IPAM config");
  assert.is(ours.gateway, dockers.gateway, "containers are given the same gateway");
  const plain = (list: string[]) => list.map((entry) => (entry.startsWith("error") ? "error" : entry));
  assert.equal(plain(ours.addresses), plain(dockers.addresses), "containers get the same addresses");
  return ours;
}

/**
 * Options for a daemon that a test drives over its socket alone (no Docker network behind its pools). The daemon
 * reconciles its state with dockerd's in the background and releases pools and addresses no Docker network holds
 * once they stay unused for a grace period (10 s by default); these tests hold such pools on purpose, for longer
 * than that, so the grace period is set to its maximum (10 min, far beyond any of these suites).
 */
export const SOCKET_ONLY: { env: Record<string, string> } = { env: { TSNET_RECONCILE_GRACE_MS: "600000" } };

/** Runs `work` on `items` with `width` concurrent workers; resolves with the results in item order. */
export async function parallel<T, R>(items: readonly T[], width: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await work(items[index] as T);
      }
    }),
  );
  return results;
}

/** Rejects when `work` is not done within `ms` (a crash test must end, whatever the daemon does). */
export function withBudget<T>(work: Promise<T>, what: string, ms = 120_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

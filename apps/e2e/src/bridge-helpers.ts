// Helpers of the bridge driver's Docker suites (bridge*.docker.test.ts), on top of the shared harness: a suite
// fixture with the real daemon, tsnet networks with free subnets, what a container sees of its interfaces, the
// daemon's view of an endpoint (EndpointOperInfo over its socket), host addresses of our own (a dummy link), and
// what tsnet left in the kernel (links, nft rules, the DOCKER-USER jump).
import { execFileSync } from "node:child_process";
import { createHash, randomBytes, randomInt } from "node:crypto";
import {
  callPlugin,
  createNetwork,
  docker,
  endpointVeth,
  ensureBusyboxImage,
  ensureDocker,
  execIn,
  type Fixture,
  fixture,
  freeSubnet,
  hostLinks,
  type NetworkSpec,
  type RunningDaemon,
  runContainer,
  startDaemon,
  type TestContainer,
  type TestNetwork,
} from "./harness.js";

/** A fixture that makes sure Docker and the image are there and starts the real daemon (bridge + IPAM). */
export function daemonFixture(): Fixture<RunningDaemon> {
  return fixture(async () => {
    await ensureDocker();
    await ensureBusyboxImage();
    const daemon = await startDaemon();
    if (!daemon.implements.includes("NetworkDriver") || !daemon.implements.includes("IpamDriver")) {
      throw new Error(`the daemon implements only ${daemon.implements.join(", ")}`);
    }
    return daemon;
  });
}

/** A tsnet network (driver and IPAM of `daemon`) on a fresh /24 unless the spec names subnets. */
export async function tsnetNetwork(
  daemon: RunningDaemon,
  spec: NetworkSpec = {},
): Promise<TestNetwork & { subnet: string; gateway: string }> {
  const subnets = spec.subnets ?? [await freeSubnet()];
  const network = await createNetwork({ driver: daemon.name, ipamDriver: daemon.name, ...spec, subnets });
  const subnet = subnets[0] as string;
  return { ...network, subnet, gateway: subnet.replace(/0\/24$/, "1") };
}

/** The host bridge tsnet makes for a network without a `bridge.name` option. */
export function bridgeOf(networkId: string): string {
  return `tsbr-${networkId.slice(0, 10)}`;
}

/** The endpoint id Docker gave the container on that network. */
export function endpointOf(container: string, network: string): Promise<string> {
  return docker([
    "inspect",
    "--format",
    `{{(index .NetworkSettings.Networks ${JSON.stringify(network)}).EndpointID}}`,
    container,
  ]);
}

/** Interface name → MTU inside the container (from /sys, busybox has no `ip -j`). */
export async function containerInterfaces(container: string): Promise<Map<string, number>> {
  const result = await execIn(container, [
    "sh",
    "-c",
    'cd /sys/class/net && for i in *; do echo "$i" $(cat "$i/mtu"); done',
  ]);
  if (result.code !== 0) throw new Error(`cannot list interfaces of ${container}: ${result.stderr}`);
  const out = new Map<string, number>();
  for (const line of result.stdout.trim().split("\n")) {
    const [name, mtu] = line.trim().split(" ");
    if (name) out.set(name, Number(mtu));
  }
  return out;
}

/** The container's routes as `ip route` prints them. */
export async function containerRoutes(container: string, family: 4 | 6 = 4): Promise<string> {
  const result = await execIn(container, ["ip", `-${family}`, "route", "show"]);
  if (result.code !== 0) throw new Error(`ip route in ${container}: ${result.stderr}`);
  return result.stdout;
}

/** What the daemon answers to NetworkDriver.EndpointOperInfo for an endpoint: the state behind `-P`. */
export async function operInfo(
  daemon: RunningDaemon,
  networkId: string,
  endpointId: string,
): Promise<Record<string, unknown>> {
  const reply = await callPlugin(
    daemon.socketPath,
    "NetworkDriver.EndpointOperInfo",
    JSON.stringify({ NetworkID: networkId, EndpointID: endpointId }),
  );
  if (reply.status !== 200) throw new Error(`EndpointOperInfo answered ${reply.status}: ${reply.body}`);
  return (JSON.parse(reply.body) as { Value: Record<string, unknown> }).Value;
}

/** A busybox container serving `/index.html` = `body` with httpd on `port` (foreground, so it stays up). */
export function httpContainer(
  spec: Parameters<typeof runContainer>[0] & { body: string; port?: number },
): Promise<TestContainer> {
  const port = spec.port ?? 8080;
  const { body, ...rest } = spec;
  return runContainer({
    ...rest,
    command: ["sh", "-c", `mkdir -p /www && echo ${body} > /www/index.html && exec httpd -f -p ${port} -h /www`],
  });
}

/**
 * An HTTP GET from inside a container (busybox `nc`: this static busybox's `wget` crashes resolving names): the
 * body, or undefined when the connection failed or timed out.
 * @throws Error when the client itself could not run (so a failure is never mistaken for isolation)
 */
export async function fetchIn(container: string, url: string): Promise<string | undefined> {
  const parsed = new URL(url);
  const request = `printf 'GET ${parsed.pathname} HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${parsed.hostname} ${parsed.port}`;
  const result = await execIn(container, ["sh", "-c", request], 15_000);
  if (result.code >= 126) throw new Error(`nc in ${container} could not run (exit ${result.code}): ${result.stderr}`);
  if (result.code !== 0) return undefined;
  const separator = result.stdout.indexOf("\r\n\r\n");
  return separator < 0 ? undefined : result.stdout.slice(separator + 4).trim();
}

/** Host fetch that resolves undefined instead of rejecting. */
export async function fetchFromHost(url: string): Promise<string | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(3_000) });
    return (await response.text()).trim();
  } catch {
    return undefined;
  }
}

/** A link of our own (an empty bridge: this kernel has no dummy module) carrying `address/32`: a host address no other test or service uses. */
export interface DummyAddress {
  link: string;
  address: string;
  remove(): void;
}

/** Adds an empty bridge `tst<hex>` with the first address of a free /24 (setup only, never a request path). */
export async function addDummyAddress(): Promise<DummyAddress> {
  const link = `tst${randomBytes(2).toString("hex")}`;
  const address = (await freeSubnet()).replace(/0\/24$/, "1");
  execFileSync("ip", ["link", "add", link, "type", "bridge"]);
  const remove = () => {
    try {
      execFileSync("ip", ["link", "del", link], { stdio: "ignore" });
    } catch {
      // already gone
    }
  };
  try {
    execFileSync("ip", ["addr", "add", `${address}/32`, "dev", link]);
    execFileSync("ip", ["link", "set", link, "up"]);
  } catch (error) {
    remove();
    throw error;
  }
  return { link, address, remove };
}

/** The whole nft ruleset (to look for a bridge name or subnet of ours). */
export function nftRuleset(): string {
  return execFileSync("nft", ["list", "ruleset"], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    stdio: ["ignore", "pipe", "ignore"],
  });
}

/**
 * The firewall names a daemon serving plugin `name` uses when the CLI scopes them per plugin (a hash of the name,
 * so concurrent daemons do not rewrite each other's tables); "tsnet" for the default plugin.
 */
export function firewallNamesOf(pluginName: string): { table: string; chain: string; comment: string } {
  if (pluginName === "tsnet") return { table: "tsnet", chain: "TSNET-FORWARD", comment: "tsnet" };
  const hex = createHash("sha256").update(pluginName).digest("hex").slice(0, 8);
  return { table: `tsnet-${hex}`, chain: `TSNET-${hex.toUpperCase()}`, comment: `tsnet-${hex}` };
}

/** True when DOCKER-USER (IPv4) has a rule whose comment is `comment` (default: any tsnet comment). */
export function dockerUserJump(comment?: string): boolean {
  try {
    const rules = execFileSync("iptables", ["-w", "-t", "filter", "-S", "DOCKER-USER"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    return rules
      .split("\n")
      .some((line) => (comment === undefined ? line.includes("tsnet") : line.includes(`--comment ${comment} `)));
  } catch {
    return false;
  }
}

/**
 * A random IPv6 ULA /64 written as Docker prints addresses (no leading zeros in a group), so an address's text can
 * be checked against the prefix's: `fd12:abcd:1234::/64`.
 */
export function randomUla64(): string {
  const group = () => randomInt(0x1000, 0x10000).toString(16);
  return `fd${randomBytes(1).toString("hex")}:${group()}:${group()}::/64`;
}

/** Host links of tsnet for `ids`: bridges named after a NetworkID, and the host veths of EndpointIDs (by alias). */
export function linksOf(ids: readonly string[]): string[] {
  const shorts = ids.map((id) => id.slice(0, 10));
  const bridges = hostLinks("tsbr-").filter((name) => shorts.some((short) => name.endsWith(short)));
  const veths = ids.map(endpointVeth).filter((name): name is string => name !== undefined);
  return [...bridges, ...veths];
}

/** Kernel counters of UDP in a container's namespace (from /proc/net/snmp). */
export async function udpCounters(container: string): Promise<{ inDatagrams: number; noPorts: number }> {
  const result = await execIn(container, ["cat", "/proc/net/snmp"]);
  const lines = result.stdout.split("\n").filter((line) => line.startsWith("Udp:"));
  const names = (lines[0] ?? "").split(/\s+/);
  const values = (lines[1] ?? "").split(/\s+/);
  const read = (name: string) => Number(values[names.indexOf(name)] ?? Number.NaN);
  return { inDatagrams: read("InDatagrams"), noPorts: read("NoPorts") };
}

/** Runs `work` over `items`, at most `limit` at a time; resolves with results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  });
  await Promise.all(lanes);
  return results;
}

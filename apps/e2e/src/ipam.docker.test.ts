// @tsnet/ipam served by the real daemon, under Docker's own bridge driver (`-d bridge --ipam-driver NAME`): each
// case runs the same `docker network create` / `docker run` flags once with Docker's default IPAM and once with
// tsnet's, one after the other (the bridge driver refuses two networks on one subnet), and compares what Docker shows.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  cleanup,
  containerAddress,
  createNetwork,
  docker,
  ensureBusyboxImage,
  ensureDocker,
  fixture,
  freeSubnet,
  type NetworkSpec,
  type RunningDaemon,
  runContainer,
  startDaemon,
  tryDocker,
} from "./harness.js";

const ipam = suite("tsnet IPAM under Docker's bridge driver, beside Docker's default IPAM");
const running = fixture<RunningDaemon>(async () => {
  await ensureDocker();
  await ensureBusyboxImage();
  const daemon = await startDaemon();
  if (!daemon.implements.includes("IpamDriver")) {
    throw new Error("the daemon's Plugin.Activate lacks IpamDriver: packages/cli/src/compose.ts composes no IPAM yet");
  }
  return daemon;
});

ipam.before(running.setup);
ipam.after(async () => {
  await cleanup();
});

/** What `docker network inspect` shows of a network's IPAM, in a comparable form ("SUBNET range=.. gw=.. aux=.."). */
async function ipamConfig(network: string): Promise<string> {
  // The entries are maps that leave out unset keys, so read them as JSON rather than with template fields.
  const entries = JSON.parse(
    await docker(["network", "inspect", "--format", "{{json .IPAM.Config}}", network]),
  ) as Array<{
    Subnet?: string;
    IPRange?: string;
    Gateway?: string;
    AuxiliaryAddresses?: Record<string, string>;
  }>;
  return entries
    .map(
      (entry) =>
        `${entry.Subnet ?? ""} range=${entry.IPRange ?? ""} gw=${entry.Gateway ?? ""} aux=${JSON.stringify(entry.AuxiliaryAddresses ?? {})}`,
    )
    .join("; ");
}

interface Outcome {
  config: string;
  /** One entry per container: its address, or "error" when `docker run` failed. */
  addresses: string[];
}

/**
 * Creates the network (with `ipamDriver` or Docker's default), starts one container per `--ip` entry (undefined:
 * no `--ip`; "rm-first": remove the first container before starting the next), records what Docker shows, removes it all.
 */
async function runCase(spec: NetworkSpec, containers: Array<string | undefined | "rm-first">): Promise<Outcome> {
  const network = await createNetwork(spec);
  const config = await ipamConfig(network.name);
  const addresses: string[] = [];
  const started: string[] = [];
  for (const ip of containers) {
    if (ip === "rm-first") {
      const first = started.shift();
      if (first) await docker(["rm", "-f", first]);
      continue;
    }
    try {
      const container = await runContainer({ network: network.name, ...(ip ? { ip } : {}) });
      started.push(container.name);
      addresses.push(await containerAddress(container.name, network.name));
    } catch {
      addresses.push("error");
    }
  }
  if (started.length > 0) await docker(["rm", "-f", ...started]);
  await docker(["network", "rm", network.name]);
  return { config, addresses };
}

/** Runs a case with Docker's default IPAM, then with tsnet's, and asserts Docker shows the same. */
async function assertSameAsDefault(
  spec: NetworkSpec,
  containers: Array<string | undefined | "rm-first">,
): Promise<Outcome> {
  const { name } = running.get();
  const docker_ = await runCase({ ...spec, driver: "bridge" }, containers);
  const tsnet = await runCase({ ...spec, driver: "bridge", ipamDriver: name }, containers);
  assert.is(tsnet.config, docker_.config, "docker network inspect shows the same IPAM config");
  assert.equal(tsnet.addresses, docker_.addresses, "containers get the same addresses");
  return tsnet;
}

/** The address `offset` above the network address of a /24, e.g. at("10.210.3.0/24", 5) = "10.210.3.5". */
function at(subnet: string, offset: number): string {
  return subnet.replace(/0\/24$/, String(offset));
}

ipam("--subnet: gateway .1, then the lowest free address, and a released address is handed out again", async () => {
  const subnet = await freeSubnet();
  const outcome = await assertSameAsDefault({ subnets: [subnet] }, [undefined, undefined, "rm-first", undefined]);
  assert.equal(outcome.addresses, [at(subnet, 2), at(subnet, 3), at(subnet, 2)]);
});

ipam("--ip-range: containers get addresses from the range only", async () => {
  const subnet = await freeSubnet();
  const range = subnet.replace(/0\/24$/, "128/25");
  const outcome = await assertSameAsDefault({ subnets: [subnet], ipRanges: [range] }, [undefined, undefined]);
  for (const address of outcome.addresses) assert.ok(Number(address.split(".")[3]) >= 128, address);
});

ipam("--gateway: the given gateway is reserved and shown", async () => {
  const subnet = await freeSubnet();
  const outcome = await assertSameAsDefault({ subnets: [subnet], gateways: [at(subnet, 254)] }, [undefined]);
  assert.match(outcome.config, `gw=${at(subnet, 254)}`);
  assert.equal(outcome.addresses, [at(subnet, 1)]);
});

ipam("--aux-address: the address is never handed to a container", async () => {
  const subnet = await freeSubnet();
  const outcome = await assertSameAsDefault({ subnets: [subnet], auxAddresses: { router: at(subnet, 2) } }, [
    undefined,
    undefined,
  ]);
  assert.equal(outcome.addresses, [at(subnet, 3), at(subnet, 4)]);
});

ipam("--ip: a chosen address is honoured, and a taken one is refused", async () => {
  const subnet = await freeSubnet();
  const outcome = await assertSameAsDefault({ subnets: [subnet] }, [at(subnet, 77), at(subnet, 77), undefined]);
  assert.equal(outcome.addresses, [at(subnet, 77), "error", at(subnet, 2)]);
});

ipam("two networks without --subnet get distinct default pools from tsnet", async () => {
  const { name, output } = running.get();
  const first = await createNetwork({ driver: "bridge", ipamDriver: name });
  const second = await createNetwork({ driver: "bridge", ipamDriver: name });
  const [one, two] = [await ipamConfig(first.name), await ipamConfig(second.name)];
  assert.is.not(one.split(" ")[0], two.split(" ")[0], `${one} vs ${two}`);
  assert.match(one, /^(172\.(1[7-9]|2\d|3[01])\.0\.0\/16|192\.168\.\d+\.0\/20) /, one);
  assert.ok(output().includes('"call":"IpamDriver.RequestPool"'), "the pools came from the daemon");
  const container = await runContainer({ network: first.name });
  const address = await containerAddress(container.name, first.name);
  const prefix = one.split(".").slice(0, 2).join(".");
  assert.ok(address.startsWith(`${prefix}.`), `${address} is in ${one}`);
  await docker(["rm", "-f", container.name]);
  await docker(["network", "rm", first.name, second.name]);
  assert.is((await tryDocker(["network", "inspect", first.name])).code, 1);
});

ipam.run();

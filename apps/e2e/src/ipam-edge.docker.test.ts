// Edge cases of tsnet's IPAM seen through Docker, compared with Docker's default IPAM where it does the same:
// exhaustion of a /29, two IPv4 subnets on one network, `--ip` on the gateway or an aux address, `--ip-range` for
// IPv6, round-robin with `--ipam-opt com.docker.network.ipam.serial=true`, and the IPAM under tsnet's own bridge.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  cleanup,
  containerAddress,
  containerAddress6,
  createNetwork,
  docker,
  ensureBusyboxImage,
  ensureDocker,
  fixture,
  freeSubnet,
  type NetworkSpec,
  RUN_PREFIX,
  type RunningDaemon,
  runContainer,
  startDaemon,
  tryDocker,
} from "./harness.js";
import {
  at,
  closeIpamConnections,
  compareWithDefault,
  ipamCall,
  poolRequest,
  runCase,
  type Step,
} from "./ipam-helpers.js";

const edge = suite("tsnet IPAM in Docker: edge cases");
const running = fixture<RunningDaemon>(async () => {
  await ensureDocker();
  await ensureBusyboxImage();
  return startDaemon();
});
edge.before(running.setup);
edge.after(async () => {
  closeIpamConnections();
  await cleanup();
});

/** An IPv6 /64 unique to this run and subnet, e.g. "fd3a:210:17::/64". */
function v6For(subnet: string): string {
  const [, second, third] = subnet.split(".");
  return `fd${RUN_PREFIX.slice(-2)}:${second}:${third}::/64`;
}

edge("a /29 is exhausted after five containers, and the sixth is refused with a clear error", async () => {
  const subnet = (await freeSubnet()).replace(/\/24$/, "/29");
  const outcome = await compareWithDefault(running.get().name, { subnets: [subnet] }, [{}, {}, {}, {}, {}, {}]);
  assert.equal(
    outcome.addresses.slice(0, 5),
    [2, 3, 4, 5, 6].map((n) => subnet.replace(/0\/29$/, String(n))),
  );
  const refusal = outcome.addresses[5] ?? "";
  assert.match(refusal, /^error: /);
  assert.match(refusal, /no free address left/, refusal);
  assert.ok(refusal.includes(subnet), `the refusal names the pool: ${refusal}`);
});

edge("a network Docker's bridge refuses after the pools were requested leaves no pool behind in tsnet", async () => {
  const { name, socketPath } = running.get();
  const [first, second] = [await freeSubnet(), await freeSubnet()];
  const spec = { subnets: [first, second] };
  const dockers = await tryCreate({ ...spec, driver: "bridge" });
  const ours = await tryCreate({ ...spec, driver: "bridge", ipamDriver: name });
  // Docker's bridge takes one IPv4 subnet; dockerd asks the IPAM for both pools first, then releases them.
  assert.match(dockers, /multiple subnets/);
  assert.is(ours, dockers, "the same refusal with either IPAM");
  for (const subnet of [first, second]) {
    const pool = await ipamCall(socketPath, "RequestPool", poolRequest({ Pool: subnet }));
    assert.is(pool.status, 200, `${subnet} is free again: ${pool.text}`);
    assert.is((await ipamCall(socketPath, "ReleasePool", { PoolID: pool.body.PoolID })).status, 200);
  }
});

/** `docker network create` that is expected to fail: resolves with Docker's error text without the command line. */
async function tryCreate(spec: NetworkSpec): Promise<string> {
  try {
    const network = await createNetwork(spec);
    await docker(["network", "rm", network.name]);
    return "created";
  } catch (error) {
    return String(error).replace(/^.*?exited \d+: /s, "");
  }
}

edge("--ip on the gateway or on an aux address is refused, as with Docker's IPAM", async () => {
  const subnet = await freeSubnet();
  const outcome = await compareWithDefault(
    running.get().name,
    { subnets: [subnet], gateways: [at(subnet, 5)], auxAddresses: { nas: at(subnet, 6) } },
    [{ ip: at(subnet, 5) }, { ip: at(subnet, 6) }, {}, {}, {}],
  );
  assert.match(outcome.addresses[0] ?? "", /^error: .*already allocated/);
  assert.match(outcome.addresses[1] ?? "", /^error: .*already allocated/);
  assert.equal(outcome.addresses.slice(2), [at(subnet, 1), at(subnet, 2), at(subnet, 3)]);
});

edge("IPv6 --ip-range: the v6 gateway and containers come from the range, as Docker's IPAM", async () => {
  const subnet = await freeSubnet();
  const v6 = v6For(subnet);
  const range6 = v6.replace("::/64", "::8:0/112");
  const outcome = await compareWithDefault(
    running.get().name,
    { subnets: [subnet, v6], ipRanges: [range6], ipv6: true },
    [{}, {}],
  );
  const base = v6.replace("::/64", "::8:");
  assert.is(outcome.gateway, `${at(subnet, 1)} ${base}0`);
  assert.equal(outcome.addresses, [`${at(subnet, 2)} ${base}1`, `${at(subnet, 3)} ${base}2`]);
});

edge("IPv6 --gateway, --aux-address and a taken --ip6: as Docker's IPAM", async () => {
  const subnet = await freeSubnet();
  const v6 = v6For(subnet);
  const base = v6.replace("::/64", "::");
  const outcome = await compareWithDefault(
    running.get().name,
    {
      subnets: [subnet, v6],
      gateways: [at(subnet, 1), `${base}ff`],
      auxAddresses: { v6router: `${base}2` },
      ipv6: true,
    },
    [{}, { ip: at(subnet, 30), ip6: `${base}30` }, { ip: at(subnet, 31), ip6: `${base}30` }, {}],
  );
  assert.is(outcome.gateway, `${at(subnet, 1)} ${base}ff`);
  assert.is(outcome.addresses[0], `${at(subnet, 2)} ${base}1`);
  assert.is(outcome.addresses[1], `${at(subnet, 30)} ${base}30`);
  assert.match(outcome.addresses[2] ?? "", /^error: .*already allocated/);
  // The failed run's IPv4 .31 was given back: the next container gets .3 and the v6 after the aux address.
  assert.is(outcome.addresses[3], `${at(subnet, 3)} ${base}3`);
});

edge("eight docker runs at once on one network get eight distinct addresses, .2 to .9", async () => {
  const { name } = running.get();
  const subnet = await freeSubnet();
  const network = await createNetwork({ driver: "bridge", ipamDriver: name, subnets: [subnet] });
  const started = await Promise.all(Array.from({ length: 8 }, () => runContainer({ network: network.name })));
  const addresses = await Promise.all(started.map((container) => containerAddress(container.name, network.name)));
  assert.equal(
    [...addresses].sort((a, b) => Number(a.split(".")[3]) - Number(b.split(".")[3])),
    [2, 3, 4, 5, 6, 7, 8, 9].map((n) => at(subnet, n)),
  );
  await docker(["rm", "-f", ...started.map((container) => container.name)]);
  await docker(["network", "rm", network.name]);
});

edge(
  "--ipam-opt com.docker.network.ipam.serial=true: addresses go round-robin, a released one is not reused at once",
  async () => {
    const { name } = running.get();
    const subnet = await freeSubnet();
    const steps: Step[] = [{}, {}, {}, { rm: 0 }, {}, { rm: 1 }, {}];
    const spec = { subnets: [subnet], ipamOptions: { "com.docker.network.ipam.serial": "true" } };
    const ours = await runCase({ ...spec, driver: "bridge", ipamDriver: name }, steps);
    // Gateway .1, then .2 .3 .4; .2 released → .5 (next after the last handed out), .3 released → .6.
    assert.equal(
      ours.addresses,
      [2, 3, 4, 5, 6].map((n) => at(subnet, n)),
    );
    const dockers = await runCase({ ...spec, driver: "bridge" }, steps);
    // Docker 20.10's default IPAM reads the option only from RequestAddress options, which dockerd never sets for
    // a container on a local network: it reuses the lowest free address. tsnet also honours it as a pool option.
    process.stdout.write(`  [serial] Docker's default IPAM: ${dockers.addresses.join(", ")}\n`);
  },
);

edge("tsnet's bridge with tsnet's IPAM: --subnet, --ip-range, --aux-address, --ip and IPv6", async () => {
  const { name, socketPath } = running.get();
  const subnet = await freeSubnet();
  const v6 = v6For(subnet);
  const network = await createNetwork({
    driver: name,
    ipamDriver: name,
    subnets: [subnet, v6],
    ipRanges: [at(subnet, 128).replace(/$/, "/25")],
    auxAddresses: { nas: at(subnet, 129) },
    ipv6: true,
  });
  const started = [
    await runContainer({ network: network.name }),
    await runContainer({ network: network.name, ip: at(subnet, 20), ip6: v6.replace("::/64", "::20") }),
    await runContainer({ network: network.name }),
  ];
  const addresses = [];
  for (const container of started) {
    addresses.push(
      `${await containerAddress(container.name, network.name)} ${await containerAddress6(container.name, network.name)}`,
    );
  }
  const base6 = v6.replace("::/64", "::");
  assert.equal(addresses, [
    `${at(subnet, 130)} ${base6}2`,
    `${at(subnet, 20)} ${base6}20`,
    `${at(subnet, 131)} ${base6}3`,
  ]);
  // All of them (and the gateway .128, the aux .129) are held in tsnet's IPAM under the pool's PoolID.
  const poolId = `LocalDefault/${subnet}/${at(subnet, 128)}/25`;
  for (const held of [128, 129, 130, 20, 131].map((n) => at(subnet, n))) {
    const reply = await ipamCall(socketPath, "RequestAddress", { PoolID: poolId, Address: held, Options: {} });
    assert.is(reply.status, 409, `${held}: ${reply.text}`);
  }
  await docker(["rm", "-f", ...started.map((container) => container.name)]);
  await docker(["network", "rm", network.name]);
  const free = await ipamCall(socketPath, "RequestPool", {
    AddressSpace: "LocalDefault",
    Pool: subnet,
    SubPool: "",
    Options: {},
    V6: false,
  });
  assert.is(free.status, 200, `the pool was released with the network: ${free.text}`);
  assert.is((await ipamCall(socketPath, "ReleasePool", { PoolID: free.body.PoolID })).status, 200);
});

edge(
  "tiny and missing pools: a /30 holds one container; /31, /32 and --ipv6 without a v6 subnet as Docker's IPAM",
  async () => {
    const { name } = running.get();
    const base = await freeSubnet();
    const slash30 = base.replace(/\/24$/, "/30");
    const outcome = await compareWithDefault(name, { subnets: [slash30] }, [{}, {}]);
    assert.equal(outcome.addresses[0], base.replace(/0\/24$/, "2"));
    assert.match(outcome.addresses[1] ?? "", /^error: /);
    for (const spec of [
      { subnets: [base.replace(/0\/24$/, "8/31")] },
      { subnets: [base.replace(/0\/24$/, "12/32")] },
      { subnets: [base.replace(/0\/24$/, "16/29")], ipv6: true },
    ]) {
      const dockers = await tryCreate({ ...spec, driver: "bridge" });
      const ours = await tryCreate({ ...spec, driver: "bridge", ipamDriver: name });
      process.stdout.write(`  [tiny] ${JSON.stringify(spec)}: Docker's IPAM "${dockers}", tsnet "${ours}"\n`);
      assert.is(ours === "created", dockers === "created", `${JSON.stringify(spec)}: created with both or neither`);
    }
  },
);

/** stop A, run C, start A, connect A again with --ip: what each container ends up with, on one network. */
async function stopStartCase(spec: NetworkSpec): Promise<string[]> {
  const network = await createNetwork(spec);
  const subnet = spec.subnets?.[0] ?? "";
  try {
    const a = await runContainer({ network: network.name });
    const b = await runContainer({ network: network.name });
    await docker(["stop", "-t", "0", a.name]);
    const c = await runContainer({ network: network.name });
    const started = await tryDocker(["start", a.name]);
    const seen = [];
    for (const container of [a, b, c]) {
      seen.push(
        (
          await tryDocker([
            "inspect",
            "--format",
            `{{(index .NetworkSettings.Networks "${network.name}").IPAddress}}`,
            container.name,
          ])
        ).stdout.trim(),
      );
    }
    seen.push(started.code === 0 ? "a started" : "a not started");
    // Disconnect b and connect it again with a chosen address: the old one is released, the new one honoured.
    await docker(["network", "disconnect", network.name, b.name]);
    await docker(["network", "connect", "--ip", at(subnet, 50), network.name, b.name]);
    seen.push(await containerAddress(b.name, network.name));
    const d = await runContainer({ network: network.name });
    seen.push(await containerAddress(d.name, network.name));
    await docker(["rm", "-f", a.name, b.name, c.name, d.name]);
    return seen;
  } finally {
    await tryDocker(["network", "rm", network.name]);
  }
}

edge("docker stop / start, network disconnect / connect --ip: the same addresses as with Docker's IPAM", async () => {
  const { name } = running.get();
  const subnet = await freeSubnet();
  const dockers = await stopStartCase({ driver: "bridge", subnets: [subnet] });
  const ours = await stopStartCase({ driver: "bridge", ipamDriver: name, subnets: [subnet] });
  process.stdout.write(`  [stop/start] Docker's IPAM ${dockers.join(", ")}; tsnet ${ours.join(", ")}\n`);
  assert.equal(ours, dockers);
});

edge(
  "tsnet serve --default-address-pool: networks without --subnet are cut from it, then a clear EXHAUSTED",
  async () => {
    // A /23 nobody routes (freeSubnet's /24s come from second octets no route or Docker network uses), cut in /24s.
    const second = (await freeSubnet()).split(".")[1];
    const base = `10.${second}.0.0/23`;
    const daemon = await startDaemon({ args: ["--default-address-pool", `base=${base},size=24`] });
    const subnets: string[] = [];
    const names: string[] = [];
    for (let n = 0; n < 2; n++) {
      const network = await createNetwork({ driver: "bridge", ipamDriver: daemon.name });
      names.push(network.name);
      subnets.push(
        (
          await docker(["network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", network.name])
        ).trim(),
      );
    }
    assert.equal(subnets, [`10.${second}.0.0/24`, `10.${second}.1.0/24`]);
    const third = await tryCreate({ driver: "bridge", ipamDriver: daemon.name });
    assert.match(third, /IpamDriver\.RequestPool/);
    assert.match(third, /no .*pool|exhausted/i, third);
    process.stdout.write(`  [default-address-pool] third network: ${third}\n`);
    await docker(["network", "rm", ...names]);
    assert.is(await daemon.stop(), 0, daemon.output().slice(-2000));
  },
);

edge.run();

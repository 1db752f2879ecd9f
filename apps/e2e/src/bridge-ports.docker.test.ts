// Published ports (`-p`, `-P`) of containers on a tsnet network under a real Docker Engine, without a userland
// proxy: reachable from the host (loopback, a host address of ours, another network's gateway), from containers on
// other networks through a host address, and from the container itself (hairpin).

import { randomInt } from "node:crypto";
import { createSocket } from "node:dgram";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  addDummyAddress,
  type DummyAddress,
  daemonFixture,
  endpointOf,
  fetchFromHost,
  fetchIn,
  httpContainer,
  operInfo,
  randomUla64,
  tsnetNetwork,
  udpCounters,
} from "./bridge-helpers.js";
import { cleanup, createNetwork, docker, eventually, freeSubnet, runContainer } from "./harness.js";

const test = suite("bridge driver: published ports under Docker");
const daemon = daemonFixture();
let dummy: DummyAddress | undefined;
test.before(async () => {
  await daemon.setup();
  dummy = await addDummyAddress().catch(() => undefined);
});
test.after(async () => {
  dummy?.remove();
  await cleanup();
});

/** A host port unlikely to be taken: 30000-39999, distinct within this run. */
const used = new Set<number>();
function hostPort(span = 1): number {
  for (;;) {
    const port = randomInt(30_000, 40_000 - span);
    if (!Array.from({ length: span }, (_, i) => port + i).some((p) => used.has(p))) {
      for (let i = 0; i < span; i++) used.add(port + i);
      return port;
    }
  }
}

function hostAddress(): string {
  if (dummy === undefined) throw new Error("no host address of ours (the setup could not add one)");
  return dummy.address;
}

interface PortMapEntry {
  Proto: number;
  Port: number;
  HostIP: string;
  HostPort: number;
}

/** The host ports the daemon chose for a container's endpoint, from EndpointOperInfo. */
async function chosenPorts(network: { id: string; name: string }, container: string): Promise<PortMapEntry[]> {
  const value = await operInfo(daemon.get(), network.id, await endpointOf(container, network.name));
  return (value["com.docker.network.portmap"] as PortMapEntry[] | undefined) ?? [];
}

test("-p HOST:PORT answers on 127.0.0.1, on a host address and on another network's gateway", async () => {
  const network = await tsnetNetwork(daemon.get());
  const other = await tsnetNetwork(daemon.get());
  const port = hostPort();
  const server = await httpContainer({ network: network.name, publish: [`${port}:8080`], body: "published" });
  assert.ok(await eventually(async () => (await fetchFromHost(`http://127.0.0.1:${port}/`)) === "published", 5_000));
  assert.is(await fetchFromHost(`http://${hostAddress()}:${port}/`), "published", "via a host address of ours");
  assert.is(await fetchFromHost(`http://${other.gateway}:${port}/`), "published", "via another bridge's address");
  await docker(["rm", "-f", server.name]);
  assert.ok(
    await eventually(async () => (await fetchFromHost(`http://127.0.0.1:${port}/`)) === undefined, 5_000),
    "withdrawn when the container goes",
  );
});

test("a published port is reachable from containers on other networks through a host address", async () => {
  const network = await tsnetNetwork(daemon.get());
  const other = await tsnetNetwork(daemon.get());
  const builtin = await createNetwork({ subnets: [await freeSubnet()] });
  const port = hostPort();
  const server = await httpContainer({ network: network.name, publish: [`${port}:8080`], body: "across" });
  const client = await runContainer({ network: other.name });
  const builtinClient = await runContainer({ network: builtin.name });
  assert.is(await fetchIn(client.name, `http://${hostAddress()}:${port}/`), "across", "tsnet → host address");
  assert.is(await fetchIn(client.name, `http://${other.gateway}:${port}/`), "across", "tsnet → its own gateway");
  assert.is(await fetchIn(builtinClient.name, `http://${hostAddress()}:${port}/`), "across", "Docker bridge → host");
  await docker(["rm", "-f", server.name, client.name, builtinClient.name]);
});

test("-p 127.0.0.1:HOST:PORT answers on loopback only", async () => {
  const network = await tsnetNetwork(daemon.get());
  const port = hostPort();
  const server = await httpContainer({ network: network.name, publish: [`127.0.0.1:${port}:8080`], body: "local" });
  assert.ok(await eventually(async () => (await fetchFromHost(`http://127.0.0.1:${port}/`)) === "local", 5_000));
  assert.is(await fetchFromHost(`http://${hostAddress()}:${port}/`), undefined, "not on another host address");
  await docker(["rm", "-f", server.name]);
});

test("-p HOST:PORT/udp delivers datagrams into the container", async () => {
  const network = await tsnetNetwork(daemon.get());
  const port = hostPort();
  const container = await runContainer({ network: network.name, publish: [`${port}:9999/udp`] });
  const before = await udpCounters(container.name);
  const socket = createSocket("udp4");
  try {
    for (let i = 0; i < 5; i++) {
      await new Promise<void>((resolve, reject) =>
        socket.send(`datagram ${i}`, port, "127.0.0.1", (error) => (error ? reject(error) : resolve())),
      );
    }
  } finally {
    socket.close();
  }
  // Nothing listens on 9999 inside: the container's kernel counts each datagram that reached it as NoPorts.
  assert.ok(
    await eventually(async () => (await udpCounters(container.name)).noPorts - before.noPorts >= 5, 5_000),
    `5 datagrams reached the container: ${JSON.stringify({ before, after: await udpCounters(container.name) })}`,
  );
  await docker(["rm", "-f", container.name]);
});

test("-p with a host port range: each container gets the first free port of the range", async () => {
  const network = await tsnetNetwork(daemon.get());
  const first = hostPort(3);
  const range = `${first}-${first + 2}:8080`;
  const a = await httpContainer({ network: network.name, publish: [range], body: "range-a" });
  const b = await httpContainer({ network: network.name, publish: [range], body: "range-b" });
  const [portA, portB] = [(await chosenPorts(network, a.name))[0], (await chosenPorts(network, b.name))[0]];
  assert.ok(portA !== undefined && portB !== undefined, "the daemon reports both ports");
  assert.is.not(portA?.HostPort, portB?.HostPort);
  for (const [entry, body] of [
    [portA, "range-a"],
    [portB, "range-b"],
  ] as const) {
    assert.ok((entry?.HostPort ?? 0) >= first && (entry?.HostPort ?? 0) <= first + 2, `${entry?.HostPort} in range`);
    assert.is(await fetchFromHost(`http://127.0.0.1:${entry?.HostPort}/`), body);
  }
  await docker(["rm", "-f", a.name, b.name]);
});

test("-P: the daemon picks the host port; EndpointOperInfo and its log name it, docker inspect cannot", async () => {
  const network = await tsnetNetwork(daemon.get());
  const server = await httpContainer({ network: network.name, flags: ["--expose", "8080", "-P"], body: "auto" });
  const [entry] = await chosenPorts(network, server.name);
  assert.ok(entry !== undefined, "EndpointOperInfo reports a port map");
  assert.is(entry?.Port, 8080);
  assert.ok((entry?.HostPort ?? 0) >= 49153, `host port ${entry?.HostPort} is from the ephemeral range`);
  assert.is(await fetchFromHost(`http://127.0.0.1:${entry?.HostPort}/`), "auto");
  assert.match(daemon.get().output(), new RegExp(`"hostPort":${entry?.HostPort}\\b`), "the daemon logs the port");
  // protocol.md §3.6: dockerd type-asserts the driver's port map against Go structs, which decoded JSON never
  // matches, so a remote driver's ports never show in `docker inspect`/`docker port`.
  const shown = await docker(["inspect", "--format", "{{json .NetworkSettings.Ports}}", server.name]);
  assert.ok(!shown.includes(String(entry?.HostPort)), `docker inspect shows ${shown}`);
  await docker(["rm", "-f", server.name]);
});

test("--ipv6: a published port answers on another network's IPv6 gateway, from the host and a container", async () => {
  const [serverSubnet, clientSubnet] = [randomUla64(), randomUla64()];
  const network = await tsnetNetwork(daemon.get(), { subnets: [await freeSubnet(), serverSubnet], ipv6: true });
  const other = await tsnetNetwork(daemon.get(), { subnets: [await freeSubnet(), clientSubnet], ipv6: true });
  const port = hostPort();
  const server = await httpContainer({ network: network.name, publish: [`${port}:8080`], body: "six" });
  const client = await runContainer({ network: other.name });
  const gateway6 = clientSubnet.replace("::/64", "::1");
  // The bridge's v6 address may still be in duplicate address detection for a moment.
  assert.ok(
    await eventually(async () => (await fetchFromHost(`http://[${gateway6}]:${port}/`)) === "six", 8_000),
    `host → [${gateway6}]:${port}`,
  );
  assert.is(await fetchIn(client.name, `http://[${gateway6}]:${port}/`), "six", "container → its v6 gateway");
  await docker(["rm", "-f", server.name, client.name]);
});

test("hairpin: a container (and its neighbour) reaches its own published port through a host address", async () => {
  const network = await tsnetNetwork(daemon.get());
  const port = hostPort();
  const server = await httpContainer({ network: network.name, publish: [`${port}:8080`], body: "hairpin" });
  assert.ok(await eventually(async () => (await fetchFromHost(`http://127.0.0.1:${port}/`)) === "hairpin", 5_000));
  assert.is(await fetchIn(server.name, `http://${hostAddress()}:${port}/`), "hairpin", "via a host address");
  assert.is(await fetchIn(server.name, `http://${network.gateway}:${port}/`), "hairpin", "via its own gateway");
  const neighbour = await runContainer({ network: network.name });
  assert.is(await fetchIn(neighbour.name, `http://${hostAddress()}:${port}/`), "hairpin", "a neighbour, via the host");
  await docker(["rm", "-f", server.name, neighbour.name]);
});

test.run();

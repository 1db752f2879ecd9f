/** Two network namespaces on one tsnet bridge network, built from the driver libraries alone: no server, no Docker. */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createBridgeDriver } from "@tsnet/bridge";
import { createIpam, GATEWAY_ADDRESS_TYPE } from "@tsnet/ipam";
import {
  attachToNamespace,
  createNamedNamespace,
  deleteNamedNamespace,
  NftFirewall,
  openNamespace,
} from "@tsnet/kernel";
import { MemoryStore } from "@tsnet/store";

const run = (...args: string[]) => new Promise<boolean>((resolve) => execFile("ip", args, (error) => resolve(!error)));
const id = () => randomBytes(32).toString("hex");
const call = () => ({ signal: AbortSignal.timeout(10_000) });
const plain = (cidr: string) => cidr.split("/")[0] ?? "";

/** Builds the lab, pings from the first namespace to the second, tears it all down. `subnet` "" lets the IPAM choose. */
export async function runLab(subnet = ""): Promise<{ addresses: string[]; pinged: boolean }> {
  const tag = `lab${randomBytes(2).toString("hex")}`;
  const root = await openNamespace();
  const store = new MemoryStore();
  const firewall = new NftFirewall({ names: { table: tag, chain: `${tag.toUpperCase()}-FWD`, comment: tag } });
  const ipam = await createIpam({ store });
  const driver = await createBridgeDriver({ namespace: root, firewall, store });
  const space = ipam.getDefaultAddressSpaces().LocalDefaultAddressSpace;
  const { PoolID, Pool } = await ipam.requestPool(
    { AddressSpace: space, Pool: subnet, SubPool: "", Options: {}, V6: false },
    call(),
  );
  const gateway = await ipam.requestAddress(
    { PoolID, Address: "", Options: { RequestAddressType: GATEWAY_ADDRESS_TYPE } },
    call(),
  );
  const NetworkID = id();
  const IPv4Data = [{ AddressSpace: space, Pool, Gateway: gateway.Address, AuxAddresses: {} }];
  const generic = { enableIpv6: false, internal: false, generic: {}, raw: {} };
  await driver.createNetwork({ NetworkID, Options: generic, IPv4Data, IPv6Data: [] }, call());
  const Options = { portBindings: [], exposedPorts: [], driverOptions: {}, raw: {} };
  const sandboxes: Array<{ name: string; address: string; EndpointID: string }> = [];
  try {
    for (const suffix of ["a", "b"]) {
      const { Address } = await ipam.requestAddress({ PoolID, Address: "", Options: {} }, call());
      const EndpointID = id();
      const Interface = { Address, AddressIPv6: "", MacAddress: "" };
      const created = await driver.createEndpoint({ NetworkID, EndpointID, Interface, Options }, call());
      const joined = await driver.join({ NetworkID, EndpointID, SandboxKey: "", Options }, call());
      const name = `${tag}-${suffix}`;
      sandboxes.push({ name, address: Address, EndpointID });
      // What Docker's daemon does at SetKey: move the container end in, rename it, MAC, address, up, default route.
      await attachToNamespace(root.links, await createNamedNamespace(name), {
        link: joined.InterfaceName?.SrcName ?? "",
        name: `${joined.InterfaceName?.DstPrefix ?? "eth"}0`,
        addresses: [Address],
        ...(created.Interface?.MacAddress === undefined ? {} : { macAddress: created.Interface.MacAddress }),
        ...(joined.Gateway === undefined ? {} : { gateway: joined.Gateway }),
      });
    }
    const [a, b] = sandboxes;
    const pinged = await run("netns", "exec", a?.name ?? "", "busybox", "ping", "-c1", "-W2", plain(b?.address ?? ""));
    return { addresses: sandboxes.map((sandbox) => sandbox.address), pinged };
  } finally {
    for (const { name, address, EndpointID } of sandboxes) {
      await driver.leave({ NetworkID, EndpointID }, call());
      await deleteNamedNamespace(name);
      await driver.deleteEndpoint({ NetworkID, EndpointID }, call());
      await ipam.releaseAddress({ PoolID, Address: plain(address) }, call());
    }
    await driver.deleteNetwork({ NetworkID }, call());
    await ipam.releaseAddress({ PoolID, Address: plain(gateway.Address) }, call());
    await ipam.releasePool({ PoolID }, call());
    await driver.close();
    await firewall.flush();
    await root.close();
  }
}

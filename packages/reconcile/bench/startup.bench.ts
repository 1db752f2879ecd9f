/**
 * Start-up reconciliation with 1000 endpoints on the real kernel (run under `unshare -n`): a durable LmdbStore
 * pre-filled through the driver API (IPAM RequestAddress + bridge CreateEndpoint, 1000 veth pairs on 4 bridges),
 * then, as a restarted daemon does: open the store, load the IPAM, the bridge driver's kernel reconcile (link dump,
 * checks, firewall re-render and apply) and the reconciliation with Docker (a fake API listing every endpoint).
 * Baseline in the same run: one netlink dump of the same links. Prints figures; asserts nothing.
 *
 *   pnpm --filter @tsnet/reconcile bench        (ENDPOINTS=2000 to change the count)
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBridgeDriver } from "@tsnet/bridge";
import { callContext, endpointRequest, networkRequest, randomId } from "@tsnet/bridge/testing";
import { createIpam, GATEWAY_ADDRESS_TYPE, REQUEST_ADDRESS_TYPE } from "@tsnet/ipam";
import { StaticHostNetworks } from "@tsnet/ipam/testing";
import { NftFirewall, openNamespace } from "@tsnet/kernel";
import { openLmdbStore } from "@tsnet/store";
import { Activity } from "../src/activity.js";
import { reconcileWithDocker } from "../src/reconciler.js";
import { FakeDockerApi } from "../src/testing.js";

const ENDPOINTS = Number(process.env.ENDPOINTS ?? 1000);
const NETWORKS = 4;
/** Endpoints created at once while filling; CONCURRENCY=250 aborts the process in the netlink package's native code. */
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 8);
const firewallNames = { table: "tsrbench", chain: "TSRBENCH-FWD", comment: "tsrbench" };

const directory = await mkdtemp(join(tmpdir(), "tsnet-reconcile-bench-"));
const docker = new FakeDockerApi();
try {
  {
    const store = await openLmdbStore({ directory });
    const namespace = await openNamespace();
    const ipam = await createIpam({ store, hostNetworks: new StaticHostNetworks() });
    const driver = await createBridgeDriver({ namespace, firewall: new NftFirewall({ names: firewallNames }), store });
    const fillStarted = performance.now();
    for (let n = 0; n < NETWORKS; n++) {
      const subnet = `10.${100 + n}.0.0/16`;
      const { PoolID } = await ipam.requestPool(
        { AddressSpace: "LocalDefault", Pool: subnet, SubPool: "", Options: {}, V6: false },
        callContext(),
      );
      const gateway = await ipam.requestAddress(
        { PoolID, Address: "", Options: { [REQUEST_ADDRESS_TYPE]: GATEWAY_ADDRESS_TYPE } },
        callContext(),
      );
      const id = randomId();
      await driver.createNetwork(
        networkRequest({
          id,
          ipv4Data: [{ AddressSpace: "LocalDefault", Pool: subnet, Gateway: gateway.Address, AuxAddresses: {} }],
        }),
        callContext(),
      );
      docker.addNetwork({ id, driver: "tsbench", ipamDriver: "tsbench", config: [{ Subnet: subnet }] });
      const count = Math.ceil(ENDPOINTS / NETWORKS);
      // In waves, as concurrent `docker run`s arrive (a few hundred at once abort the process, see README).
      for (let done = 0; done < count; done += CONCURRENCY) {
        await Promise.all(
          Array.from({ length: Math.min(CONCURRENCY, count - done) }, async () => {
            const { Address } = await ipam.requestAddress({ PoolID, Address: "", Options: {} }, callContext());
            const request = endpointRequest(id, { Address });
            await driver.createEndpoint(request, callContext());
            docker.addEndpoint(id, { EndpointID: request.EndpointID, IPv4Address: Address, IPv6Address: "" });
          }),
        );
      }
    }
    console.log(
      `filled ${ENDPOINTS} endpoints on ${NETWORKS} networks in ${Math.round(performance.now() - fillStarted)} ms`,
    );
    // A crash, as far as the kernel and the store can tell: nothing is deleted.
    await driver.close();
    await store.close();
    await namespace.close();
  }

  const baselineNamespace = await openNamespace();
  const baselineStarted = performance.now();
  const links = await baselineNamespace.links.list(AbortSignal.timeout(10_000));
  const baseline = performance.now() - baselineStarted;
  await baselineNamespace.close();

  const started = performance.now();
  const store = await openLmdbStore({ directory });
  const opened = performance.now();
  const ipam = await createIpam({ store, hostNetworks: new StaticHostNetworks() });
  const loaded = performance.now();
  const namespace = await openNamespace();
  const driver = await createBridgeDriver({ namespace, firewall: new NftFirewall({ names: firewallNames }), store });
  const kernel = performance.now();
  const summary = await reconcileWithDocker({
    docker,
    pluginName: "tsbench",
    store,
    networkDriver: driver,
    ipam,
    activity: new Activity(),
  });
  const done = performance.now();
  const kernelSummary = driver.lastReconcile;
  const ms = (value: number) => `${value.toFixed(1)} ms`;
  console.log(
    `start-up with ${ENDPOINTS} endpoints (${links.length} links): total ${ms(done - started)} ` +
      `[store open ${ms(opened - started)}, IPAM load ${ms(loaded - opened)}, kernel reconcile ${ms(kernel - loaded)}, ` +
      `docker reconcile ${ms(done - kernel)}]  baseline link dump ${ms(baseline)}  ${((done - started) / baseline).toFixed(1)}x`,
  );
  console.log(
    `kernel: ${JSON.stringify({ ...kernelSummary, recreated: kernelSummary?.recreated.length, repaired: kernelSummary?.repaired.length, removed: kernelSummary?.removed.length })}`,
  );
  console.log(
    `docker: checked ${JSON.stringify(summary.checked)}, released ${summary.released.endpoints.length + summary.released.addresses.length + summary.released.networks.length + summary.released.pools.length}`,
  );
  // Teardown: the whole namespace goes when the process exits (unshare -n); the store dir is removed.
  await driver.close();
  await store.close();
  await namespace.close();
} finally {
  await rm(directory, { recursive: true, force: true });
}

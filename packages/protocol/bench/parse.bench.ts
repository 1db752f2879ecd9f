/**
 * Cost of validation on top of decoding: each parser on its fixture's JSON text vs JSON.parse alone, same run.
 *   pnpm --filter @tsnet/protocol bench
 */
import { IPAM_DRIVER_CALLS, NETWORK_DRIVER_CALLS } from "../src/index.js";
import { IPAM_DRIVER_FIXTURES, NETWORK_DRIVER_FIXTURES } from "../src/testing.js";

const ITERATIONS = Number(process.env.ITERATIONS ?? 200_000);

function measure(work: () => unknown): number {
  for (let i = 0; i < 20_000; i++) work();
  const started = performance.now();
  for (let i = 0; i < ITERATIONS; i++) work();
  return ((performance.now() - started) * 1000) / ITERATIONS;
}

const cases: Array<[string, (body: unknown) => unknown, unknown]> = [
  ["CreateNetwork", NETWORK_DRIVER_CALLS.CreateNetwork.parse, NETWORK_DRIVER_FIXTURES.CreateNetwork],
  ["CreateEndpoint", NETWORK_DRIVER_CALLS.CreateEndpoint.parse, NETWORK_DRIVER_FIXTURES.CreateEndpoint],
  ["Join", NETWORK_DRIVER_CALLS.Join.parse, NETWORK_DRIVER_FIXTURES.Join],
  ["EndpointOperInfo", NETWORK_DRIVER_CALLS.EndpointOperInfo.parse, NETWORK_DRIVER_FIXTURES.EndpointOperInfo],
  ["RequestPool", IPAM_DRIVER_CALLS.RequestPool.parse, IPAM_DRIVER_FIXTURES.RequestPool],
  ["RequestAddress", IPAM_DRIVER_CALLS.RequestAddress.parse, IPAM_DRIVER_FIXTURES.RequestAddress],
];

console.log(`${ITERATIONS} iterations each; baseline = JSON.parse of the same text`);
console.log("| call | JSON.parse | JSON.parse + validate | validation share |");
console.log("|---|---:|---:|---:|");
for (const [name, parse, fixture] of cases) {
  const text = `${JSON.stringify(fixture)}\n`;
  const decode = measure(() => JSON.parse(text));
  const both = measure(() => parse(JSON.parse(text)));
  console.log(
    `| ${name} | ${decode.toFixed(2)} µs | ${both.toFixed(2)} µs | ${(((both - decode) / both) * 100).toFixed(0)} % (${(both / decode).toFixed(2)}x) |`,
  );
}

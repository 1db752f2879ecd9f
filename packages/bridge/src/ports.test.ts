import { createServer } from "node:net";
import { isTsnetError } from "@tsnet/protocol";
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { bindProbe, hostIpsOverlap, PortAllocator } from "./ports.js";
import { portBinding } from "./testing.js";

const ports = suite("PortAllocator");
const free = async () => true;

ports("never gives one host port to two owners on overlapping addresses", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.record({
          owner: fc.constantFrom("a", "b", "c", "d"),
          release: fc.boolean(),
          hostIp: fc.constantFrom("", "0.0.0.0", "127.0.0.1", "::", "::1"),
          hostPort: fc.constantFrom(0, 8080, 8081),
          end: fc.constantFrom(0, 8082),
        }),
        { maxLength: 40 },
      ),
      async (steps) => {
        const allocator = new PortAllocator({ start: 50000, end: 50003, probe: free });
        for (const step of steps) {
          if (step.release) {
            allocator.release(step.owner);
            continue;
          }
          allocator.release(step.owner);
          const binding = portBinding(80, step.hostPort, {
            HostIP: step.hostIp,
            HostPortEnd: step.hostPort === 0 ? 0 : Math.max(step.end, step.hostPort),
          });
          await allocator.allocate(step.owner, [binding], "", [4, 6]).catch((error: unknown) => {
            assert.ok(isTsnetError(error) && (error.code === "CONFLICT" || error.code === "EXHAUSTED"), String(error));
          });
          const all = ["a", "b", "c", "d"].flatMap((owner) =>
            allocator.held(owner).map((port) => ({ owner, ...port })),
          );
          for (const x of all) {
            for (const y of all) {
              if (x === y || x.owner === y.owner) continue;
              assert.not.ok(x.hostPort === y.hostPort && hostIpsOverlap(x.hostIp, y.hostIp), JSON.stringify([x, y]));
            }
          }
        }
      },
    ),
  );
});

ports("address overlap: wildcards cover their family, specific addresses only themselves", () => {
  assert.ok(hostIpsOverlap("", "127.0.0.1"));
  assert.ok(hostIpsOverlap("", "::1"));
  assert.ok(hostIpsOverlap("0.0.0.0", "127.0.0.1"));
  assert.not.ok(hostIpsOverlap("0.0.0.0", "::1"));
  assert.not.ok(hostIpsOverlap("::", "127.0.0.1"));
  assert.not.ok(hostIpsOverlap("127.0.0.1", "127.0.0.2"));
  assert.ok(hostIpsOverlap("127.0.0.1", "127.0.0.1"));
});

ports("the ephemeral range runs out with EXHAUSTED", async () => {
  const allocator = new PortAllocator({ start: 50000, end: 50001, probe: free });
  await allocator.allocate(
    "a",
    [portBinding(80, 0, { HostPortEnd: 0 }), portBinding(81, 0, { HostPortEnd: 0 })],
    "",
    [4],
  );
  let error: unknown;
  await allocator.allocate("b", [portBinding(80, 0, { HostPortEnd: 0 })], "", [4]).catch((e: unknown) => {
    error = e;
  });
  assert.ok(isTsnetError(error) && error.code === "EXHAUSTED");
});

ports("bindProbe sees a port a host process listens on", async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ host: "127.0.0.1", port: 0 }, resolve));
  const { port } = server.address() as { port: number };
  try {
    assert.is(await bindProbe("tcp", "127.0.0.1", port), false);
    assert.is(await bindProbe("tcp", "", port), false);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  assert.is(await bindProbe("tcp", "127.0.0.1", port), true);
  assert.is(await bindProbe("udp", "127.0.0.1", port), true);
});

ports.run();

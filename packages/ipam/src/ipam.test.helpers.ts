/** Shared by the Ipam test files: request builders, an IPAM on a MemoryStore, and a code-checking `rejects`. */
import { isTsnetError, type RequestPoolRequest } from "@tsnet/protocol";
import { MemoryStore } from "@tsnet/store";
import * as assert from "uvu/assert";
import { createIpam, type Ipam, type IpamOptions } from "./ipam.js";
import { StaticHostNetworks } from "./testing.js";

export const GATEWAY: Record<string, string> = { RequestAddressType: "com.docker.network.gateway" };

export function poolRequest(overrides: Partial<RequestPoolRequest> = {}): RequestPoolRequest {
  return { AddressSpace: "LocalDefault", Pool: "", SubPool: "", Options: {}, V6: false, ...overrides };
}

/** Asserts that `work` rejects with a TsnetError of `code` (and a message matching `message`). */
export async function rejects(work: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  try {
    await work;
  } catch (error) {
    assert.ok(isTsnetError(error), `not a TsnetError: ${String(error)}`);
    assert.is(error.code, code, error.message);
    if (message !== undefined) assert.match(error.message, message);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

/** An IPAM on a fresh MemoryStore with no host networks, plus that store. */
export async function make(options: Partial<IpamOptions> = {}): Promise<{ ipam: Ipam; store: MemoryStore }> {
  const store = new MemoryStore();
  const ipam = await createIpam({ store, hostNetworks: new StaticHostNetworks(), ...options });
  return { ipam, store };
}

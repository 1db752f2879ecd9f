import type { HostNetworks } from "./host-networks.js";

/** A HostNetworks with a fixed, changeable list; `fail` makes the next list() reject. */
export class StaticHostNetworks implements HostNetworks {
  networks: string[];
  #failure: Error | undefined;
  /** How many times list() was called. */
  calls = 0;

  constructor(networks: string[] = []) {
    this.networks = networks;
  }

  fail(error: Error): void {
    this.#failure = error;
  }

  async list(): Promise<string[]> {
    this.calls++;
    const failure = this.#failure;
    this.#failure = undefined;
    if (failure !== undefined) throw failure;
    return [...this.networks];
  }
}

/**
 * The desired firewall state of every bridge network, kept in memory and handed whole to `Firewall.apply`.
 * Applies are coalesced: calls that arrive while one apply runs share the next, so a burst of Program calls
 * costs two `nft -f -` runs, not one each.
 */
import type { Firewall, FirewallNetwork, PortPublish } from "@tsnet/kernel";

/** A network's firewall entry without its published ports (they come from its endpoints). */
export type FirewallNetworkBase = Omit<FirewallNetwork, "publishes">;

type Deferred = { promise: Promise<void>; resolve: () => void; reject: (error: unknown) => void };

function defer(): Deferred {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // every caller awaits it; this only keeps an unawaited rejection from crashing
  return { promise, resolve, reject };
}

export class FirewallState {
  readonly #firewall: Firewall;
  readonly #timeoutMs: number;
  readonly #networks = new Map<string, FirewallNetworkBase>();
  readonly #publishes = new Map<string, Map<string, PortPublish[]>>();
  #next: Deferred | undefined;
  #running: Promise<void> | undefined;

  constructor(firewall: Firewall, timeoutMs: number) {
    this.#firewall = firewall;
    this.#timeoutMs = timeoutMs;
  }

  getNetwork(id: string): FirewallNetworkBase | undefined {
    return this.#networks.get(id);
  }

  setNetwork(network: FirewallNetworkBase): void {
    this.#networks.set(network.id, network);
  }

  /** Removes a network and its endpoints' ports. */
  deleteNetwork(id: string): void {
    this.#networks.delete(id);
    this.#publishes.delete(id);
  }

  getPublishes(networkId: string, endpointId: string): PortPublish[] {
    return this.#publishes.get(networkId)?.get(endpointId) ?? [];
  }

  /** Sets an endpoint's published ports; `[]` removes them. */
  setPublishes(networkId: string, endpointId: string, publishes: PortPublish[]): void {
    let byEndpoint = this.#publishes.get(networkId);
    if (byEndpoint === undefined) {
      byEndpoint = new Map();
      this.#publishes.set(networkId, byEndpoint);
    }
    if (publishes.length === 0) byEndpoint.delete(endpointId);
    else byEndpoint.set(endpointId, publishes);
  }

  /** The whole desired state, networks in id order and ports in endpoint order, so equal states compare equal. */
  snapshot(): FirewallNetwork[] {
    return [...this.#networks.values()]
      .sort((a, b) => a.id.localeCompare(b.id))
      .map((network) => {
        const byEndpoint = this.#publishes.get(network.id) ?? new Map<string, PortPublish[]>();
        const publishes = [...byEndpoint.keys()].sort().flatMap((endpointId) => byEndpoint.get(endpointId) ?? []);
        return { ...network, publishes };
      });
  }

  /** Resolves once an apply that started after this call has succeeded; rejects with its error. */
  sync(): Promise<void> {
    const batch = this.#next ?? defer();
    if (this.#next === undefined) {
      this.#next = batch;
      if (this.#running === undefined) this.#start();
    }
    return batch.promise;
  }

  #start(): void {
    const batch = this.#next;
    if (batch === undefined) return;
    this.#next = undefined;
    const state = this.snapshot();
    this.#running = this.#firewall
      .apply(state, AbortSignal.timeout(this.#timeoutMs))
      .then(batch.resolve, batch.reject)
      .finally(() => {
        this.#running = undefined;
        this.#start();
      });
  }

  /** Resolves when no apply is running or waiting. */
  async idle(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }
}

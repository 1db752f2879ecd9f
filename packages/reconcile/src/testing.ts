/** Test helpers: an in-memory Docker API whose networks a test edits directly. */
import { TsnetError } from "@tsnet/protocol";
import type { DockerApi, DockerEndpoint, DockerIpamConfig, DockerNetwork } from "./docker-api.js";

/** A {@link DockerApi} over a Map of networks; `fail(n)` makes the next n calls fail as an unreachable dockerd. */
export class FakeDockerApi implements DockerApi {
  readonly networks: Map<string, DockerNetwork> = new Map();
  /** Calls made, e.g. "list", "inspect:ID". */
  readonly calls: string[] = [];
  #failures = 0;
  /** Runs before each call answers (e.g. to change the networks mid-reconciliation). */
  onCall: ((call: string) => void) | undefined;

  /** The next `count` calls reject with UNAVAILABLE. */
  fail(count = 1): void {
    this.#failures = count;
  }

  /** Adds (or replaces) a network; returns it for further edits. */
  addNetwork(options: {
    id: string;
    driver: string;
    ipamDriver?: string;
    scope?: string;
    config?: DockerIpamConfig[];
    name?: string;
  }): DockerNetwork {
    const network: DockerNetwork = {
      Id: options.id,
      Name: options.name ?? options.id.slice(0, 12),
      Driver: options.driver,
      Scope: options.scope ?? "local",
      IPAM: { Driver: options.ipamDriver ?? "default", Config: options.config ?? [] },
      Containers: {},
    };
    this.networks.set(options.id, network);
    return network;
  }

  /** Attaches an endpoint (as `docker run --network`) to a network. */
  addEndpoint(networkId: string, endpoint: DockerEndpoint, containerId = `ctr${endpoint.EndpointID}`): void {
    const network = this.networks.get(networkId);
    if (network === undefined) throw new Error(`no network ${networkId}`);
    network.Containers = { ...network.Containers, [containerId]: endpoint };
  }

  /** Detaches an endpoint by EndpointID. */
  removeEndpoint(networkId: string, endpointId: string): void {
    const network = this.networks.get(networkId);
    if (network?.Containers === undefined) return;
    for (const [key, entry] of Object.entries(network.Containers)) {
      if (entry.EndpointID === endpointId) delete network.Containers[key];
    }
  }

  #enter(call: string): void {
    this.calls.push(call);
    if (this.#failures > 0) {
      this.#failures--;
      throw new TsnetError("UNAVAILABLE", `${call}: connect ECONNREFUSED (fake)`);
    }
    this.onCall?.(call);
  }

  async listNetworks(_signal: AbortSignal): Promise<DockerNetwork[]> {
    this.#enter("list");
    return [...this.networks.values()].map(({ Containers: _, ...rest }) =>
      structuredClone({ ...rest, Containers: {} }),
    );
  }

  async inspectNetwork(id: string, _signal: AbortSignal): Promise<DockerNetwork | undefined> {
    this.#enter(`inspect:${id}`);
    const network = this.networks.get(id);
    return network === undefined ? undefined : structuredClone(network);
  }
}

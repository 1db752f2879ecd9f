/**
 * The slice of the Docker Engine API that reconciliation reads: networks with their IPAM configuration and
 * their endpoints. A real client over dockerd's unix socket (node:http, no dependency) and the interface the
 * reconciler and its fake share.
 */
import { request } from "node:http";
import { TsnetError } from "@tsnet/protocol";

/** One entry of a network's `IPAM.Config`, as `GET /networks/ID` shows it. */
export interface DockerIpamConfig {
  Subnet?: string;
  IPRange?: string;
  Gateway?: string;
  AuxiliaryAddresses?: Record<string, string>;
}

/** One endpoint of a network (`Containers` of `GET /networks/ID`; keyed by container id or `ep-<EndpointID>`). */
export interface DockerEndpoint {
  EndpointID: string;
  /** CIDR or "". */
  IPv4Address?: string;
  IPv6Address?: string;
  MacAddress?: string;
  Name?: string;
}

/** A network as Docker reports it. `Containers` is filled by {@link DockerApi.inspectNetwork} only. */
export interface DockerNetwork {
  Id: string;
  Name: string;
  /** The network driver: a v1 plugin's name is its socket's basename. */
  Driver: string;
  /** "local", "global" or "swarm". */
  Scope: string;
  IPAM: { Driver: string; Config: DockerIpamConfig[] | null };
  Containers?: Record<string, DockerEndpoint>;
}

/** What the reconciler asks Docker. Every call takes a signal; transport failures are `UNAVAILABLE`. */
export interface DockerApi {
  /** `GET /networks`: every network (no endpoints). */
  listNetworks(signal: AbortSignal): Promise<DockerNetwork[]>;
  /** `GET /networks/ID`: the network with its endpoints, or undefined when Docker no longer has it. */
  inspectNetwork(id: string, signal: AbortSignal): Promise<DockerNetwork | undefined>;
}

/** Where dockerd's API listens: `DOCKER_HOST` when it names a unix socket, else `/var/run/docker.sock`. */
export function dockerSocketPath(env: Record<string, string | undefined>): string {
  const host = env.DOCKER_HOST;
  if (host?.startsWith("unix://")) return host.slice("unix://".length);
  return "/var/run/docker.sock";
}

/** The Docker Engine API over its unix socket. */
export class UnixDockerApi implements DockerApi {
  readonly socketPath: string;

  constructor(socketPath = "/var/run/docker.sock") {
    this.socketPath = socketPath;
  }

  async listNetworks(signal: AbortSignal): Promise<DockerNetwork[]> {
    const reply = await this.#get("/networks", signal);
    if (reply.status !== 200) throw this.#failure("GET /networks", reply);
    const body = JSON.parse(reply.body) as unknown;
    if (!Array.isArray(body)) throw new TsnetError("INTERNAL", "GET /networks: the answer is not a list");
    return body as DockerNetwork[];
  }

  async inspectNetwork(id: string, signal: AbortSignal): Promise<DockerNetwork | undefined> {
    const reply = await this.#get(`/networks/${encodeURIComponent(id)}`, signal);
    if (reply.status === 404) return undefined;
    if (reply.status !== 200) throw this.#failure(`GET /networks/${id.slice(0, 12)}`, reply);
    return JSON.parse(reply.body) as DockerNetwork;
  }

  #failure(what: string, reply: { status: number; body: string }): TsnetError {
    // dockerd answers 5xx while it is still starting or shutting down: worth a retry.
    const code = reply.status >= 500 ? "UNAVAILABLE" : "INTERNAL";
    return new TsnetError(code, `${what}: Docker answered ${reply.status}: ${reply.body.slice(0, 200).trim()}`);
  }

  #get(path: string, signal: AbortSignal): Promise<{ status: number; body: string }> {
    if (signal.aborted) return Promise.reject(new TsnetError("UNAVAILABLE", `GET ${path}: aborted before start`));
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, method: "GET", path, signal }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on("error", (error) => reject(unavailable(path, this.socketPath, error)));
      });
      req.on("error", (error) => reject(unavailable(path, this.socketPath, error)));
      req.end();
    });
  }
}

function unavailable(path: string, socketPath: string, error: Error): TsnetError {
  const errno = (error as NodeJS.ErrnoException).code ?? error.name;
  return new TsnetError("UNAVAILABLE", `GET ${path} on ${socketPath}: ${errno}`, { cause: error });
}

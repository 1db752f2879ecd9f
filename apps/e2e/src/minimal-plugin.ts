// A deliberately minimal NetworkDriver and IpamDriver that live only in the end-to-end tests. They prove that
// Docker reaches a plugin served by @tsnet/server and that errors come back as Docker's error text, before the
// real bridge driver and IPAM exist. They make no kernel objects: networks are entries in a Set, and the IPAM
// hands out the gateway (.1) of whatever /24-or-wider pool Docker asks for. Not for use outside tests.
import {
  type CallContext,
  type CreateNetworkRequest,
  type IpamDriver,
  type NetworkDriver,
  type ReleaseAddressRequest,
  type ReleasePoolRequest,
  type RequestAddressRequest,
  type RequestAddressResponse,
  type RequestPoolRequest,
  type RequestPoolResponse,
  TsnetError,
} from "@tsnet/protocol";

/** One call as the minimal plugin saw it: `Interface.Method` plus the interesting fields. */
export interface RecordedCall {
  call: string;
  detail?: string;
}

/** Switches a test flips to make the next matching call fail, to see Docker surface the error. */
export interface MinimalPluginFaults {
  /** RequestPool throws CONFLICT with this message. */
  requestPool?: string;
  /** CreateNetwork throws INVALID_ARGUMENT with this message. */
  createNetwork?: string;
}

/** The minimal test plugin: both drivers, the calls they received, and their state. */
export interface MinimalPlugin {
  networkDriver: NetworkDriver;
  ipamDriver: IpamDriver;
  /** Every call in arrival order (including the capability calls the server forwards). */
  calls: RecordedCall[];
  /** NetworkIDs created and not deleted. */
  networks: Set<string>;
  /** PoolID → CIDR of pools handed out and not released. */
  pools: Map<string, string>;
  faults: MinimalPluginFaults;
  /** The call names only, e.g. ["IpamDriver.RequestPool", "IpamDriver.RequestAddress", ...]. */
  callNames(): string[];
}

function unsupported(call: string): Promise<never> {
  return Promise.reject(new TsnetError("INVALID_ARGUMENT", `${call}: the minimal e2e test driver has no endpoints`));
}

/** Builds a fresh minimal plugin with its own call record. */
export function createMinimalPlugin(): MinimalPlugin {
  const calls: RecordedCall[] = [];
  const networks = new Set<string>();
  const pools = new Map<string, string>();
  const faults: MinimalPluginFaults = {};
  const record = (call: string, detail?: string) => {
    calls.push(detail === undefined ? { call } : { call, detail });
  };

  const networkDriver: NetworkDriver = {
    getCapabilities() {
      record("NetworkDriver.GetCapabilities");
      return { Scope: "local", ConnectivityScope: "local" };
    },
    async createNetwork(request: CreateNetworkRequest, _context: CallContext) {
      record(
        "NetworkDriver.CreateNetwork",
        request.IPv4Data.map((data) => `${data.Pool} gw ${data.Gateway}`).join(","),
      );
      if (faults.createNetwork) throw new TsnetError("INVALID_ARGUMENT", faults.createNetwork);
      networks.add(request.NetworkID);
    },
    async deleteNetwork(request) {
      record("NetworkDriver.DeleteNetwork");
      networks.delete(request.NetworkID);
    },
    createEndpoint: () => unsupported("CreateEndpoint"),
    deleteEndpoint: () => unsupported("DeleteEndpoint"),
    endpointOperInfo: () => unsupported("EndpointOperInfo"),
    join: () => unsupported("Join"),
    leave: () => unsupported("Leave"),
  };

  const ipamDriver: IpamDriver = {
    getCapabilities() {
      record("IpamDriver.GetCapabilities");
      return { RequiresMACAddress: false, RequiresRequestReplay: false };
    },
    getDefaultAddressSpaces() {
      record("IpamDriver.GetDefaultAddressSpaces");
      return { LocalDefaultAddressSpace: "minimal-local", GlobalDefaultAddressSpace: "minimal-global" };
    },
    async requestPool(request: RequestPoolRequest): Promise<RequestPoolResponse> {
      record("IpamDriver.RequestPool", request.Pool);
      if (faults.requestPool) throw new TsnetError("CONFLICT", faults.requestPool);
      if (request.Pool === "" || request.V6) {
        throw new TsnetError("INVALID_ARGUMENT", "RequestPool: the minimal e2e IPAM needs an explicit IPv4 --subnet");
      }
      const poolId = `${request.AddressSpace}/${request.Pool}`;
      pools.set(poolId, request.Pool);
      return { PoolID: poolId, Pool: request.Pool, Data: {} };
    },
    async releasePool(request: ReleasePoolRequest) {
      record("IpamDriver.ReleasePool", request.PoolID);
      pools.delete(request.PoolID);
    },
    async requestAddress(request: RequestAddressRequest): Promise<RequestAddressResponse> {
      const isGateway = request.Options.RequestAddressType === "com.docker.network.gateway";
      record("IpamDriver.RequestAddress", isGateway ? "gateway" : request.Address);
      const pool = pools.get(request.PoolID);
      if (!pool) throw new TsnetError("NOT_FOUND", `RequestAddress: PoolID "${request.PoolID}" is not known`);
      if (!isGateway)
        throw new TsnetError("INVALID_ARGUMENT", "RequestAddress: the minimal e2e IPAM only hands out gateways");
      const [network, prefix] = pool.split("/");
      const octets = (network ?? "").split(".");
      octets[3] = String(Number(octets[3] ?? 0) + 1);
      return { Address: `${octets.join(".")}/${prefix}`, Data: {} };
    },
    async releaseAddress(request: ReleaseAddressRequest) {
      record("IpamDriver.ReleaseAddress", request.Address);
    },
  };

  return {
    networkDriver,
    ipamDriver,
    calls,
    networks,
    pools,
    faults,
    callNames: () => calls.map((entry) => entry.call),
  };
}

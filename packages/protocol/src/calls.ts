/**
 * The call tables: for each protocol call, its URL path, its parser and how it invokes the driver. The server
 * builds its dispatch map from these and stays generic; every type link (call → request → driver method → reply)
 * is checked here.
 */
import { type Awaitable, andThen, type CallContext, type IpamDriver, type NetworkDriver } from "./driver.js";
import { TsnetError } from "./error.js";
import type {
  AddressSpacesResponse,
  AllocateNetworkRequest,
  AllocateNetworkResponse,
  CapabilitiesResponse,
  CreateEndpointRequest,
  CreateEndpointResponse,
  CreateNetworkRequest,
  DiscoveryRequest,
  EmptyResponse,
  EndpointOperInfoResponse,
  EndpointRequest,
  IpamCapabilitiesResponse,
  JoinRequest,
  JoinResponse,
  NetworkRequest,
  ProgramExternalConnectivityRequest,
  ReleaseAddressRequest,
  ReleasePoolRequest,
  RequestAddressRequest,
  RequestAddressResponse,
  RequestPoolRequest,
  RequestPoolResponse,
} from "./messages.js";
import {
  parseAllocateNetworkRequest,
  parseCreateEndpointRequest,
  parseCreateNetworkRequest,
  parseDeleteEndpointRequest,
  parseDeleteNetworkRequest,
  parseDiscoverDeleteRequest,
  parseDiscoverNewRequest,
  parseEmptyRequest,
  parseEndpointOperInfoRequest,
  parseFreeNetworkRequest,
  parseJoinRequest,
  parseLeaveRequest,
  parseProgramExternalConnectivityRequest,
  parseReleaseAddressRequest,
  parseReleasePoolRequest,
  parseRequestAddressRequest,
  parseRequestPoolRequest,
  parseRevokeExternalConnectivityRequest,
} from "./parsers.js";

/** The two driver interfaces a plugin can implement, as `Plugin.Activate` names them. */
export type PluginInterface = "NetworkDriver" | "IpamDriver";

/** URL path of the activation call. */
export const ACTIVATE_PATH = "/Plugin.Activate";

/** What `handle` produced: the validated request (for logging) and the reply to encode as JSON. */
export interface CallResult<Request, Response> {
  /** Undefined when the driver lacks the (optional) method and the body was not read. */
  request: Request | undefined;
  response: Response;
}

/**
 * One protocol call. `handle` validates the body, calls the driver and returns the wire reply; a driver without an
 * optional method gets Docker's tolerated answer (`{}` for Discover*, NOT_FOUND → 404 for Program/Revoke and the
 * swarm-only Allocate/Free).
 */
export interface DriverCall<Driver, Request, Response> {
  readonly interface: PluginInterface;
  /** Docker's method name, e.g. "CreateNetwork". */
  readonly method: string;
  /** URL path, e.g. "/NetworkDriver.CreateNetwork". */
  readonly path: string;
  /** Validates a decoded JSON body (`undefined` when the body was empty). Throws INVALID_ARGUMENT. */
  parse(body: unknown): Request;
  /**
   * Validates, then calls the driver. Throws (or rejects with) what the driver throws, or INVALID_ARGUMENT /
   * NOT_FOUND. Returns the result directly when the driver did (see {@link Awaitable}).
   */
  handle(driver: Driver, body: unknown, context: CallContext): Awaitable<CallResult<Request, Response>>;
}

const EMPTY: EmptyResponse = {};

function notImplemented(path: string): never {
  throw new TsnetError("NOT_FOUND", `${path.slice(1)} is not implemented by this plugin`);
}

type Invoke<Driver, Request, Response> = (
  driver: Driver,
  request: Request,
  context: CallContext,
) => Awaitable<Response>;

function define<Driver, Request, Response>(
  pluginInterface: PluginInterface,
  method: string,
  parse: (body: unknown) => Request,
  invoke: Invoke<Driver, Request, Response>,
  optional?: { isImplemented: (driver: Driver) => boolean; whenAbsent: (path: string) => Response },
): DriverCall<Driver, Request, Response> {
  const path = `/${pluginInterface}.${method}`;
  return {
    interface: pluginInterface,
    method,
    path,
    parse,
    handle(driver, body, context) {
      // checked before parsing: a tolerated 404 must not turn into a 400 for a retried, empty body
      if (optional !== undefined && !optional.isImplemented(driver)) {
        return { request: undefined, response: optional.whenAbsent(path) };
      }
      const request = parse(body);
      return andThen(invoke(driver, request, context), (response) => ({ request, response }));
    },
  };
}

/** Calls an optional method that `isImplemented` has already found, keeping `this` bound to the driver. */
function call<Driver, Request, Response>(
  method: ((request: Request, context: CallContext) => Awaitable<Response>) | undefined,
  driver: Driver,
  request: Request,
  context: CallContext,
): Awaitable<Response> {
  if (method === undefined) throw new TsnetError("INTERNAL", "optional driver method vanished");
  return method.call(driver, request, context);
}

/** Void driver results become `{}`: Docker decodes every reply, and an empty body fails with EOF. */
function empty(work: Awaitable<void>): Awaitable<EmptyResponse> {
  return andThen(work, () => EMPTY);
}

/** Every NetworkDriver call, keyed by Docker's method name. */
export interface NetworkDriverCalls {
  GetCapabilities: DriverCall<NetworkDriver, void, CapabilitiesResponse>;
  CreateNetwork: DriverCall<NetworkDriver, CreateNetworkRequest, EmptyResponse>;
  AllocateNetwork: DriverCall<NetworkDriver, AllocateNetworkRequest, AllocateNetworkResponse>;
  DeleteNetwork: DriverCall<NetworkDriver, NetworkRequest, EmptyResponse>;
  FreeNetwork: DriverCall<NetworkDriver, NetworkRequest, EmptyResponse>;
  CreateEndpoint: DriverCall<NetworkDriver, CreateEndpointRequest, CreateEndpointResponse>;
  EndpointOperInfo: DriverCall<NetworkDriver, EndpointRequest, EndpointOperInfoResponse>;
  DeleteEndpoint: DriverCall<NetworkDriver, EndpointRequest, EmptyResponse>;
  Join: DriverCall<NetworkDriver, JoinRequest, JoinResponse>;
  Leave: DriverCall<NetworkDriver, EndpointRequest, EmptyResponse>;
  DiscoverNew: DriverCall<NetworkDriver, DiscoveryRequest, EmptyResponse>;
  DiscoverDelete: DriverCall<NetworkDriver, DiscoveryRequest, EmptyResponse>;
  ProgramExternalConnectivity: DriverCall<NetworkDriver, ProgramExternalConnectivityRequest, EmptyResponse>;
  RevokeExternalConnectivity: DriverCall<NetworkDriver, EndpointRequest, EmptyResponse>;
}

const ND = "NetworkDriver";

/** The NetworkDriver call table. */
export const NETWORK_DRIVER_CALLS: NetworkDriverCalls = {
  GetCapabilities: define(ND, "GetCapabilities", parseEmptyRequest, (d) => d.getCapabilities()),
  CreateNetwork: define(ND, "CreateNetwork", parseCreateNetworkRequest, (d, r, c) => empty(d.createNetwork(r, c))),
  AllocateNetwork: define(
    ND,
    "AllocateNetwork",
    parseAllocateNetworkRequest,
    (d, r, c) => call(d.allocateNetwork, d, r, c),
    {
      isImplemented: (d) => d.allocateNetwork !== undefined,
      whenAbsent: notImplemented,
    },
  ),
  DeleteNetwork: define(ND, "DeleteNetwork", parseDeleteNetworkRequest, (d, r, c) => empty(d.deleteNetwork(r, c))),
  FreeNetwork: define(ND, "FreeNetwork", parseFreeNetworkRequest, (d, r, c) => empty(call(d.freeNetwork, d, r, c)), {
    isImplemented: (d) => d.freeNetwork !== undefined,
    whenAbsent: notImplemented,
  }),
  CreateEndpoint: define(ND, "CreateEndpoint", parseCreateEndpointRequest, (d, r, c) => d.createEndpoint(r, c)),
  EndpointOperInfo: define(ND, "EndpointOperInfo", parseEndpointOperInfoRequest, (d, r, c) => d.endpointOperInfo(r, c)),
  DeleteEndpoint: define(ND, "DeleteEndpoint", parseDeleteEndpointRequest, (d, r, c) => empty(d.deleteEndpoint(r, c))),
  Join: define(ND, "Join", parseJoinRequest, (d, r, c) => d.join(r, c)),
  Leave: define(ND, "Leave", parseLeaveRequest, (d, r, c) => empty(d.leave(r, c))),
  DiscoverNew: define(ND, "DiscoverNew", parseDiscoverNewRequest, (d, r, c) => empty(call(d.discoverNew, d, r, c)), {
    isImplemented: (d) => d.discoverNew !== undefined,
    whenAbsent: () => EMPTY,
  }),
  DiscoverDelete: define(
    ND,
    "DiscoverDelete",
    parseDiscoverDeleteRequest,
    (d, r, c) => empty(call(d.discoverDelete, d, r, c)),
    {
      isImplemented: (d) => d.discoverDelete !== undefined,
      whenAbsent: () => EMPTY,
    },
  ),
  ProgramExternalConnectivity: define(
    ND,
    "ProgramExternalConnectivity",
    parseProgramExternalConnectivityRequest,
    (d, r, c) => empty(call(d.programExternalConnectivity, d, r, c)),
    {
      isImplemented: (d) => d.programExternalConnectivity !== undefined,
      whenAbsent: notImplemented,
    },
  ),
  RevokeExternalConnectivity: define(
    ND,
    "RevokeExternalConnectivity",
    parseRevokeExternalConnectivityRequest,
    (d, r, c) => empty(call(d.revokeExternalConnectivity, d, r, c)),
    {
      isImplemented: (d) => d.revokeExternalConnectivity !== undefined,
      whenAbsent: notImplemented,
    },
  ),
};

/** Every IpamDriver call, keyed by Docker's method name. */
export interface IpamDriverCalls {
  GetCapabilities: DriverCall<IpamDriver, void, IpamCapabilitiesResponse>;
  GetDefaultAddressSpaces: DriverCall<IpamDriver, void, AddressSpacesResponse>;
  RequestPool: DriverCall<IpamDriver, RequestPoolRequest, RequestPoolResponse>;
  ReleasePool: DriverCall<IpamDriver, ReleasePoolRequest, EmptyResponse>;
  RequestAddress: DriverCall<IpamDriver, RequestAddressRequest, RequestAddressResponse>;
  ReleaseAddress: DriverCall<IpamDriver, ReleaseAddressRequest, EmptyResponse>;
}

const IPAM = "IpamDriver";

/** The IpamDriver call table. */
export const IPAM_DRIVER_CALLS: IpamDriverCalls = {
  GetCapabilities: define(IPAM, "GetCapabilities", parseEmptyRequest, (d) => d.getCapabilities()),
  GetDefaultAddressSpaces: define(IPAM, "GetDefaultAddressSpaces", parseEmptyRequest, (d) =>
    d.getDefaultAddressSpaces(),
  ),
  RequestPool: define(IPAM, "RequestPool", parseRequestPoolRequest, (d, r, c) => d.requestPool(r, c)),
  ReleasePool: define(IPAM, "ReleasePool", parseReleasePoolRequest, (d, r, c) => empty(d.releasePool(r, c))),
  RequestAddress: define(IPAM, "RequestAddress", parseRequestAddressRequest, (d, r, c) => d.requestAddress(r, c)),
  ReleaseAddress: define(IPAM, "ReleaseAddress", parseReleaseAddressRequest, (d, r, c) =>
    empty(d.releaseAddress(r, c)),
  ),
};

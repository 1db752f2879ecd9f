import type {
  AddressSpacesResponse,
  AllocateNetworkRequest,
  AllocateNetworkResponse,
  CapabilitiesResponse,
  CreateEndpointRequest,
  CreateEndpointResponse,
  CreateNetworkRequest,
  DeleteEndpointRequest,
  DeleteNetworkRequest,
  DiscoveryRequest,
  EndpointOperInfoRequest,
  EndpointOperInfoResponse,
  FreeNetworkRequest,
  IpamCapabilitiesResponse,
  JoinRequest,
  JoinResponse,
  LeaveRequest,
  ProgramExternalConnectivityRequest,
  ReleaseAddressRequest,
  ReleasePoolRequest,
  RequestAddressRequest,
  RequestAddressResponse,
  RequestPoolRequest,
  RequestPoolResponse,
  RevokeExternalConnectivityRequest,
} from "./messages.js";

/**
 * A driver's reply, or a promise of it. A method with nothing to wait for (a lookup, a commit that is one write(2))
 * returns its reply directly, and the server answers in the same turn of the event loop: on a plugin call that
 * arrives at an idle daemon, every promise hop is cold code, and skipping them took 0.08–0.13 ms off a paced
 * CreateEndpoint + Join (`apps/e2e/bench`). Only a reply comes directly: a failure comes as a rejected promise, so
 * callers can treat both alike (`await` does). The server also takes a method that throws.
 */
export type Awaitable<T> = T | Promise<T>;

/** Whether `value` is a promise (or any thenable) rather than a value returned directly. */
export function isPromiseLike<T>(value: Awaitable<T> | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

/**
 * `next(value)`, directly when `value` came directly, else once it settles (a rejection passes through): `.then`
 * for an Awaitable, without the promise hop when there is nothing to wait for.
 */
export function andThen<T, U>(value: Awaitable<T>, next: (settled: T) => Awaitable<U>): Awaitable<U> {
  return isPromiseLike(value) ? Promise.resolve(value).then(next) : next(value);
}

/**
 * Per-call context: a deadline/cancellation signal. Every external call a driver makes takes it.
 */
export interface CallContext {
  signal: AbortSignal;
}

/**
 * A network driver as a plain library object. The server validates requests before calling it, and maps
 * a thrown TsnetError to Docker's `{"Err"}`. Drivers know nothing of HTTP.
 * Optional methods that are absent answer `{}` (Discover*) or 404 (Program/Revoke, which Docker tolerates).
 */
export interface NetworkDriver {
  getCapabilities(): CapabilitiesResponse;
  createNetwork(request: CreateNetworkRequest, context: CallContext): Awaitable<void>;
  deleteNetwork(request: DeleteNetworkRequest, context: CallContext): Awaitable<void>;
  allocateNetwork?(request: AllocateNetworkRequest, context: CallContext): Awaitable<AllocateNetworkResponse>;
  freeNetwork?(request: FreeNetworkRequest, context: CallContext): Awaitable<void>;
  createEndpoint(request: CreateEndpointRequest, context: CallContext): Awaitable<CreateEndpointResponse>;
  deleteEndpoint(request: DeleteEndpointRequest, context: CallContext): Awaitable<void>;
  endpointOperInfo(request: EndpointOperInfoRequest, context: CallContext): Awaitable<EndpointOperInfoResponse>;
  join(request: JoinRequest, context: CallContext): Awaitable<JoinResponse>;
  leave(request: LeaveRequest, context: CallContext): Awaitable<void>;
  programExternalConnectivity?(request: ProgramExternalConnectivityRequest, context: CallContext): Awaitable<void>;
  revokeExternalConnectivity?(request: RevokeExternalConnectivityRequest, context: CallContext): Awaitable<void>;
  discoverNew?(request: DiscoveryRequest, context: CallContext): Awaitable<void>;
  discoverDelete?(request: DiscoveryRequest, context: CallContext): Awaitable<void>;
}

/** An IPAM driver as a plain library object; same contract as NetworkDriver. */
export interface IpamDriver {
  getCapabilities(): IpamCapabilitiesResponse;
  getDefaultAddressSpaces(): AddressSpacesResponse;
  requestPool(request: RequestPoolRequest, context: CallContext): Awaitable<RequestPoolResponse>;
  releasePool(request: ReleasePoolRequest, context: CallContext): Awaitable<void>;
  requestAddress(request: RequestAddressRequest, context: CallContext): Awaitable<RequestAddressResponse>;
  releaseAddress(request: ReleaseAddressRequest, context: CallContext): Awaitable<void>;
}

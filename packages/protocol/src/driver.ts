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
  createNetwork(request: CreateNetworkRequest, context: CallContext): Promise<void>;
  deleteNetwork(request: DeleteNetworkRequest, context: CallContext): Promise<void>;
  allocateNetwork?(request: AllocateNetworkRequest, context: CallContext): Promise<AllocateNetworkResponse>;
  freeNetwork?(request: FreeNetworkRequest, context: CallContext): Promise<void>;
  createEndpoint(request: CreateEndpointRequest, context: CallContext): Promise<CreateEndpointResponse>;
  deleteEndpoint(request: DeleteEndpointRequest, context: CallContext): Promise<void>;
  endpointOperInfo(request: EndpointOperInfoRequest, context: CallContext): Promise<EndpointOperInfoResponse>;
  join(request: JoinRequest, context: CallContext): Promise<JoinResponse>;
  leave(request: LeaveRequest, context: CallContext): Promise<void>;
  programExternalConnectivity?(request: ProgramExternalConnectivityRequest, context: CallContext): Promise<void>;
  revokeExternalConnectivity?(request: RevokeExternalConnectivityRequest, context: CallContext): Promise<void>;
  discoverNew?(request: DiscoveryRequest, context: CallContext): Promise<void>;
  discoverDelete?(request: DiscoveryRequest, context: CallContext): Promise<void>;
}

/** An IPAM driver as a plain library object; same contract as NetworkDriver. */
export interface IpamDriver {
  getCapabilities(): IpamCapabilitiesResponse;
  getDefaultAddressSpaces(): AddressSpacesResponse;
  requestPool(request: RequestPoolRequest, context: CallContext): Promise<RequestPoolResponse>;
  releasePool(request: ReleasePoolRequest, context: CallContext): Promise<void>;
  requestAddress(request: RequestAddressRequest, context: CallContext): Promise<RequestAddressResponse>;
  releaseAddress(request: ReleaseAddressRequest, context: CallContext): Promise<void>;
}

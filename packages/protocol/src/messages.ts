/**
 * Request and response shapes of Docker's remote NetworkDriver and IpamDriver protocols (Docker Engine 20.10),
 * with Docker's field spelling. See shared/spec/protocol.md for when each call arrives.
 */

/** `Plugin.Activate` reply. */
export interface ActivateResponse {
  Implements: Array<"NetworkDriver" | "IpamDriver">;
}

// ---------------------------------------------------------------------------------------------------------------
// NetworkDriver

export type Scope = "local" | "global";

export interface CapabilitiesResponse {
  Scope: Scope;
  ConnectivityScope?: Scope;
}

/** One entry of `IPv4Data` / `IPv6Data`. `Pool` and `Gateway` are CIDR; the gateway keeps the pool's prefix length. */
export interface IpamData {
  AddressSpace: string;
  Pool: string;
  /** CIDR; absent when the IPAM gave none. */
  Gateway?: string;
  /** name → CIDR; empty when none. */
  AuxAddresses: Record<string, string>;
}

/** The mixed-type `Options` map of CreateNetwork, validated into its known keys. */
export interface NetworkOptions {
  /** `com.docker.network.enable_ipv6`; false when absent. */
  enableIpv6: boolean;
  /** `com.docker.network.internal`; false when absent. */
  internal: boolean;
  /** `com.docker.network.generic`: every `-o k=v`, string → string; `{}` when absent. */
  generic: Record<string, string>;
  /** The raw map as Docker sent it, for keys tsnet does not know yet. */
  raw: Record<string, unknown>;
}

export interface CreateNetworkRequest {
  NetworkID: string;
  Options: NetworkOptions;
  IPv4Data: IpamData[];
  IPv6Data: IpamData[];
}

/** Swarm managers only; `Options` is a plain string map here. */
export interface AllocateNetworkRequest {
  NetworkID: string;
  Options: Record<string, string>;
  IPv4Data: IpamData[];
  IPv6Data: IpamData[];
}

export interface AllocateNetworkResponse {
  Options: Record<string, string>;
}

export interface NetworkRequest {
  NetworkID: string;
}
export type DeleteNetworkRequest = NetworkRequest;
export type FreeNetworkRequest = NetworkRequest;

/** IANA protocol numbers Docker uses in port labels. */
export type PortProtocol = 6 | 17 | 132;

/** `com.docker.network.endpoint.exposedports` entry. */
export interface TransportPort {
  Proto: PortProtocol;
  Port: number;
}

/** `com.docker.network.portmap` entry. HostPort 0 means "driver picks" (`-P`). */
export interface PortBinding {
  Proto: PortProtocol;
  /** Container IP; "" in requests. */
  IP: string;
  Port: number;
  /** "" for every host address. */
  HostIP: string;
  HostPort: number;
  HostPortEnd: number;
}

/** Endpoint / sandbox options, validated into their known keys. */
export interface EndpointOptions {
  /** `com.docker.network.portmap`; `[]` when absent. */
  portBindings: PortBinding[];
  /** `com.docker.network.endpoint.exposedports`; `[]` when absent. */
  exposedPorts: TransportPort[];
  /** Every top-level string value (`--driver-opt k=v`). */
  driverOptions: Record<string, string>;
  /** The raw map as Docker sent it. */
  raw: Record<string, unknown>;
}

/** Fields are "" when unset, as Docker sends them. */
export interface EndpointInterface {
  Address: string;
  AddressIPv6: string;
  MacAddress: string;
}

export interface CreateEndpointRequest {
  NetworkID: string;
  EndpointID: string;
  Interface: EndpointInterface;
  Options: EndpointOptions;
}

/** Only fields that arrived empty may be filled; Docker fails the call on any other non-empty field. */
export interface CreateEndpointResponse {
  Interface?: Partial<EndpointInterface> | null;
}

export interface EndpointRequest {
  NetworkID: string;
  EndpointID: string;
}
export type EndpointOperInfoRequest = EndpointRequest;
export type DeleteEndpointRequest = EndpointRequest;
export type LeaveRequest = EndpointRequest;
export type RevokeExternalConnectivityRequest = EndpointRequest;

export interface EndpointOperInfoResponse {
  Value: Record<string, unknown>;
}

export interface JoinRequest {
  NetworkID: string;
  EndpointID: string;
  SandboxKey: string;
  Options: EndpointOptions;
}

export const ROUTE_TYPE_NEXTHOP = 0;
export const ROUTE_TYPE_CONNECTED = 1;

export interface StaticRoute {
  Destination: string;
  RouteType: typeof ROUTE_TYPE_NEXTHOP | typeof ROUTE_TYPE_CONNECTED;
  NextHop?: string;
}

export interface JoinResponse {
  InterfaceName?: { SrcName: string; DstPrefix: string };
  /** Plain IP, on-link for the interface's subnet. */
  Gateway?: string;
  GatewayIPv6?: string;
  StaticRoutes?: StaticRoute[];
  DisableGatewayService?: boolean;
}

export interface ProgramExternalConnectivityRequest {
  NetworkID: string;
  EndpointID: string;
  Options: EndpointOptions;
}

export interface DiscoveryRequest {
  DiscoveryType: number;
  DiscoveryData: unknown;
}

/** Every NetworkDriver reply that carries nothing. */
export type EmptyResponse = Record<string, never>;

// ---------------------------------------------------------------------------------------------------------------
// IpamDriver

export interface IpamCapabilitiesResponse {
  RequiresMACAddress: boolean;
  RequiresRequestReplay: boolean;
}

export interface AddressSpacesResponse {
  LocalDefaultAddressSpace: string;
  GlobalDefaultAddressSpace: string;
}

export interface RequestPoolRequest {
  AddressSpace: string;
  /** CIDR or "" for "driver's choice". */
  Pool: string;
  /** CIDR inside Pool or "". */
  SubPool: string;
  /** `--ipam-opt`; `{}` when none. */
  Options: Record<string, string>;
  V6: boolean;
}

export interface RequestPoolResponse {
  PoolID: string;
  Pool: string;
  Data: Record<string, string>;
}

export interface ReleasePoolRequest {
  PoolID: string;
}

export interface RequestAddressRequest {
  PoolID: string;
  /** Plain IP or "". */
  Address: string;
  /** `null` from Docker becomes `{}`. */
  Options: Record<string, string>;
}

export interface RequestAddressResponse {
  /** CIDR with the pool's prefix length. */
  Address: string;
  Data: Record<string, string>;
}

export interface ReleaseAddressRequest {
  PoolID: string;
  /** Plain IP. */
  Address: string;
}

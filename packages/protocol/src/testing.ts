/**
 * Realistic request bodies for every call, as dockerd 20.10.24 sends them (protocol.md §3-4), for other packages'
 * tests. Bodies are plain JSON values (what `JSON.parse` gives); `undefined` is the empty body of no-argument calls.
 */
import type { IpamDriverCalls, NetworkDriverCalls } from "./calls.js";

/** A NetworkID in Docker's form (64 hex). */
export const SAMPLE_NETWORK_ID = "4c0d8e2fd1e1a8d6f1b5e6c2a7e7e3b2b1f0f5d9a3c4e1f2a8b7c6d5e4f3754e";
/** An EndpointID in Docker's form (64 hex). */
export const SAMPLE_ENDPOINT_ID = "babc0f43e1d2c3b4a5968778695a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9ebf6f";
/** A sandbox key as the daemon sends it (the file does not exist yet at Join time). */
export const SAMPLE_SANDBOX_KEY = "/var/run/docker/netns/45d878738b66";
/** A PoolID in the form tsnet's IPAM hands out. */
export const SAMPLE_POOL_ID = "tsnet-local/10.99.0.0/24";

const sandboxOptions = {
  "com.docker.network.endpoint.exposedports": [{ Proto: 6, Port: 80 }],
  "com.docker.network.portmap": [{ Proto: 6, IP: "", Port: 80, HostIP: "", HostPort: 8081, HostPortEnd: 8081 }],
};

/** A valid body for every NetworkDriver call, keyed by method name. */
export const NETWORK_DRIVER_FIXTURES: Record<keyof NetworkDriverCalls, unknown> = {
  GetCapabilities: undefined,
  CreateNetwork: {
    NetworkID: SAMPLE_NETWORK_ID,
    Options: {
      "com.docker.network.enable_ipv6": true,
      "com.docker.network.generic": { foo: "bar", "com.docker.network.driver.mtu": "1400" },
      "com.docker.network.internal": true,
    },
    IPv4Data: [
      {
        AddressSpace: "LocalDefault",
        Pool: "10.99.0.0/24",
        Gateway: "10.99.0.1/24",
        AuxAddresses: { a: "10.99.0.5/24" },
      },
    ],
    IPv6Data: [{ AddressSpace: "LocalDefault", Pool: "fd00:99::/64", Gateway: "fd00:99::1/64" }],
  },
  AllocateNetwork: {
    NetworkID: SAMPLE_NETWORK_ID,
    Options: { "tsnet.segment": "blue" },
    IPv4Data: [{ AddressSpace: "GlobalDefault", Pool: "10.0.1.0/24", Gateway: "10.0.1.1/24" }],
    IPv6Data: [],
  },
  DeleteNetwork: { NetworkID: SAMPLE_NETWORK_ID },
  FreeNetwork: { NetworkID: SAMPLE_NETWORK_ID },
  CreateEndpoint: {
    NetworkID: SAMPLE_NETWORK_ID,
    EndpointID: SAMPLE_ENDPOINT_ID,
    Interface: { Address: "10.99.0.50/24", AddressIPv6: "fd00:99::50/64", MacAddress: "02:42:aa:bb:cc:dd" },
    Options: {
      "com.docker.network.endpoint.exposedports": [
        { Proto: 17, Port: 91 },
        { Proto: 17, Port: 90 },
      ],
      "com.docker.network.portmap": [
        { Proto: 17, IP: "", Port: 90, HostIP: "127.0.0.1", HostPort: 9090, HostPortEnd: 9090 },
      ],
      "com.docker.network.endpoint.macaddress": "AkKqu8zd",
      "tsnet.vlan": "7",
    },
  },
  EndpointOperInfo: { NetworkID: SAMPLE_NETWORK_ID, EndpointID: SAMPLE_ENDPOINT_ID },
  DeleteEndpoint: { NetworkID: SAMPLE_NETWORK_ID, EndpointID: SAMPLE_ENDPOINT_ID },
  Join: {
    NetworkID: SAMPLE_NETWORK_ID,
    EndpointID: SAMPLE_ENDPOINT_ID,
    SandboxKey: SAMPLE_SANDBOX_KEY,
    Options: sandboxOptions,
  },
  Leave: { NetworkID: SAMPLE_NETWORK_ID, EndpointID: SAMPLE_ENDPOINT_ID },
  DiscoverNew: { DiscoveryType: 1, DiscoveryData: { Address: "192.0.2.10", BindAddress: "0.0.0.0", Self: true } },
  DiscoverDelete: { DiscoveryType: 1, DiscoveryData: { Address: "192.0.2.11" } },
  ProgramExternalConnectivity: {
    NetworkID: SAMPLE_NETWORK_ID,
    EndpointID: SAMPLE_ENDPOINT_ID,
    Options: sandboxOptions,
  },
  RevokeExternalConnectivity: { NetworkID: SAMPLE_NETWORK_ID, EndpointID: SAMPLE_ENDPOINT_ID },
};

/** A valid body for every IpamDriver call, keyed by method name. */
export const IPAM_DRIVER_FIXTURES: Record<keyof IpamDriverCalls, unknown> = {
  GetCapabilities: undefined,
  GetDefaultAddressSpaces: undefined,
  RequestPool: { AddressSpace: "tsnet-local", Pool: "10.99.0.0/24", SubPool: "10.99.0.128/25", Options: {}, V6: false },
  ReleasePool: { PoolID: SAMPLE_POOL_ID },
  RequestAddress: {
    PoolID: SAMPLE_POOL_ID,
    Address: "",
    Options: { RequestAddressType: "com.docker.network.gateway" },
  },
  ReleaseAddress: { PoolID: SAMPLE_POOL_ID, Address: "10.99.0.2" },
};

/** The fixtures as Docker puts them on the wire: JSON plus the newline Go's json.Encoder appends; "" when empty. */
export function wireBody(fixture: unknown): string {
  return fixture === undefined ? "" : `${JSON.stringify(fixture)}\n`;
}

/**
 * The `com.docker.network.*` keys a driver receives or sends (protocol.md §7), and the bridge driver's `-o` keys.
 * Values are Docker's exact spelling: option maps are Go maps, so these keys are case-sensitive.
 */

/** CreateNetwork.Options: `--ipv6` was set (bool). */
export const ENABLE_IPV6_OPTION = "com.docker.network.enable_ipv6";
/** CreateNetwork.Options: `--internal` was set (bool, present only when true). */
export const INTERNAL_OPTION = "com.docker.network.internal";
/** CreateNetwork.Options: every `-o k=v`, as an object of strings. */
export const GENERIC_OPTION = "com.docker.network.generic";
/** Inside `generic`: requested MTU, a decimal string. The driver must apply it. */
export const MTU_OPTION = "com.docker.network.driver.mtu";
/** Prefix of driver-specific options inside `generic`. */
export const DRIVER_OPTION_PREFIX = "com.docker.network.driver.";
/** Inside `generic`: interface name prefix hint; echo it as Join's `DstPrefix` when honoured. */
export const CONTAINER_IFACE_PREFIX_OPTION = "com.docker.network.container_iface_prefix";
/** Endpoint/sandbox options: published ports (array of PortBinding). */
export const PORT_MAP_OPTION = "com.docker.network.portmap";
/** Endpoint/sandbox options: exposed ports (array of TransportPort). */
export const EXPOSED_PORTS_OPTION = "com.docker.network.endpoint.exposedports";
/** CreateEndpoint.Options: base64 of the raw MAC bytes; IPAM RequestAddress.Options: colon form. */
export const MAC_ADDRESS_OPTION = "com.docker.network.endpoint.macaddress";
/** CreateEndpoint.Options: DNS servers of the endpoint (array of strings). */
export const DNS_SERVERS_OPTION = "com.docker.network.endpoint.dnsservers";
/** IPAM RequestAddress.Options key whose value says what the address is for. */
export const REQUEST_ADDRESS_TYPE_OPTION = "RequestAddressType";
/** Value of `RequestAddressType` for the network gateway; also the RequestPool `Data` key of an IPAM-chosen gateway. */
export const GATEWAY_OPTION = "com.docker.network.gateway";
/** IPAM RequestAddress.Options (swarm only): `"true"` asks for round-robin instead of lowest-free. */
export const IPAM_SERIAL_OPTION = "com.docker.network.ipam.serial";

// Bridge driver `-o` keys, as Docker's own bridge driver spells them.

/** Name of the host bridge. */
export const BRIDGE_NAME_OPTION = "com.docker.network.bridge.name";
/** Inter-container connectivity on the bridge (bool string). */
export const BRIDGE_ENABLE_ICC_OPTION = "com.docker.network.bridge.enable_icc";
/** Masquerade traffic leaving the bridge (bool string). */
export const BRIDGE_ENABLE_IP_MASQUERADE_OPTION = "com.docker.network.bridge.enable_ip_masquerade";
/** Default host address for published ports (IPv4 string). */
export const BRIDGE_HOST_BINDING_IPV4_OPTION = "com.docker.network.bridge.host_binding_ipv4";
/** Whether the bridge is Docker's default bridge (bool string). */
export const BRIDGE_DEFAULT_BRIDGE_OPTION = "com.docker.network.bridge.default_bridge";
/** Default gateway of the container, when the bridge driver does not own it (IPv4 string). */
export const BRIDGE_DEFAULT_GATEWAY_IPV4_OPTION = "com.docker.network.bridge.default_gateway_ipv4";
/** Same for IPv6. */
export const BRIDGE_DEFAULT_GATEWAY_IPV6_OPTION = "com.docker.network.bridge.default_gateway_ipv6";

/** The `RequestAddressType` value of a gateway request (alias of GATEWAY_OPTION, named for what it is). */
export const GATEWAY_ADDRESS_TYPE = "com.docker.network.gateway";

/** Every key above, for exhaustive checks and docs. */
export const KNOWN_LABELS: readonly string[] = [
  ENABLE_IPV6_OPTION,
  INTERNAL_OPTION,
  GENERIC_OPTION,
  MTU_OPTION,
  CONTAINER_IFACE_PREFIX_OPTION,
  PORT_MAP_OPTION,
  EXPOSED_PORTS_OPTION,
  MAC_ADDRESS_OPTION,
  DNS_SERVERS_OPTION,
  REQUEST_ADDRESS_TYPE_OPTION,
  GATEWAY_OPTION,
  IPAM_SERIAL_OPTION,
  BRIDGE_NAME_OPTION,
  BRIDGE_ENABLE_ICC_OPTION,
  BRIDGE_ENABLE_IP_MASQUERADE_OPTION,
  BRIDGE_HOST_BINDING_IPV4_OPTION,
  BRIDGE_DEFAULT_BRIDGE_OPTION,
  BRIDGE_DEFAULT_GATEWAY_IPV4_OPTION,
  BRIDGE_DEFAULT_GATEWAY_IPV6_OPTION,
];

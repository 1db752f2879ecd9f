export { type BridgeDriver, type BridgeDriverOptions, createBridgeDriver } from "./driver.js";
export { isMacAddress, macFromIpv4, randomMac } from "./mac.js";
export {
  BRIDGE_PREFIX,
  bridgeName,
  HOST_VETH_PREFIX,
  hostVethName,
  isOwnLinkName,
  LINK_PREFIXES,
  PEER_VETH_PREFIX,
  POOL_VETH_PREFIX,
  peerVethName,
} from "./names.js";
export { MIN_IPV6_MTU, type NetworkConfig, type Subnet } from "./options.js";
export {
  bindProbe,
  DEFAULT_HOST_PORT_RANGE,
  type HostPortsOptions,
  type PortProbe,
  type PublishedPort,
} from "./ports.js";
export type { ReconcileSummary } from "./reconcile.js";
export {
  ENDPOINT_PREFIX,
  type EndpointRecord,
  endpointKey,
  NETWORK_PREFIX,
  type NetworkRecord,
  networkKey,
} from "./records.js";

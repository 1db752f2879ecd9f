export { type Family, formatNetwork, type Network, parseAddress, parseNetwork } from "./address.js";
export {
  type DefaultPool,
  DOCKER_GLOBAL_DEFAULT_POOLS,
  DOCKER_LOCAL_DEFAULT_POOLS,
} from "./default-pools.js";
export { type HostNetworks, ProcHostNetworks, parseIpv6RouteTable, parseRouteTable } from "./host-networks.js";
export {
  createIpam,
  GATEWAY_ADDRESS_TYPE,
  Ipam,
  type IpamOptions,
  type PoolInfo,
  REQUEST_ADDRESS_TYPE,
} from "./ipam.js";
export { KEYS, type StoredPool } from "./keys.js";
export { BITMAP_LIMIT, Pool, type PoolSpec, SERIAL_OPTION } from "./pool.js";

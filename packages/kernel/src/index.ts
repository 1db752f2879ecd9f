export * from "./firewall.js";
export {
  DEFAULT_FIREWALL_NAMES,
  type FirewallNames,
  renderDockerUserRules,
  renderRuleset,
  tsnetTables,
} from "./firewall-render.js";
export { type LinkEvent, type LinkWatch, watchLinks } from "./link-events.js";
export * from "./links.js";
export {
  createNamedNamespace,
  deleteNamedNamespace,
  NetlinkNamespace,
  namedNamespacePath,
  type OpenNamespaceOptions,
  openNamespace,
} from "./namespace.js";
export { NetlinkAddresses, NetlinkRoutes } from "./netlink-addresses.js";
export { DEFAULT_REQUEST_TIMEOUT_MS, deadline, fromNetlink, withSignal } from "./netlink-error.js";
export { type MoveOptions, NetlinkLinks, type NetlinkLinksOptions } from "./netlink-links.js";
export { type FdbEntry, type Neighbour, NetlinkNeighbours } from "./netlink-neighbours.js";
export { NftFirewall, type NftFirewallOptions } from "./nft-firewall.js";
export { createLinkReaper, type LinkReaper, type LinkReaperOptions } from "./reaper.js";
export { attachToNamespace, inNamespaceDo, type SandboxInterface } from "./sandbox.js";
export {
  createVethPool,
  type PooledVeth,
  type VethAttachment,
  type VethPool,
  type VethPoolOptions,
} from "./veth-pool.js";

export * from "./firewall.js";
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
export { type MoveOptions, NetlinkLinks, REAP_GROUP } from "./netlink-links.js";
export { createLinkReaper, type LinkReaper, type LinkReaperOptions } from "./reaper.js";
export { attachToNamespace, inNamespaceDo, type SandboxInterface } from "./sandbox.js";

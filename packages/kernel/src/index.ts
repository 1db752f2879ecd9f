export * from "./firewall.js";
export * from "./links.js";

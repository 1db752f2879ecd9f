export * from "./driver.js";
export * from "./error.js";
export * from "./logger.js";
export * from "./messages.js";

export * from "./calls.js";
export * from "./driver.js";
export * from "./error.js";
export * from "./ip.js";
export * from "./labels.js";
export * from "./logger.js";
export * from "./messages.js";
export * from "./options.js";
export * from "./parsers.js";
export {
  checkCidr,
  checkIp,
  field,
  isDockerId,
  isMacAddress,
  readStringMap,
  showValue,
} from "./validate.js";

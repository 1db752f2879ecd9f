export {
  createPluginApp,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_TIMEOUT_MS,
  type PluginAppOptions,
  type PluginEnv,
} from "./app.js";
export { asTsnetError, errorBody, STATUS } from "./errors.js";
export { type ListeningServer, type ListenOptions, listen } from "./listen.js";

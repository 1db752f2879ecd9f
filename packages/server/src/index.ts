export { createPluginApp, dispatcherOf, type PluginEnv, toResponse } from "./app.js";
export {
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_TIMEOUT_MS,
  type PluginAppOptions,
  PluginDispatcher,
  type PluginReply,
} from "./dispatch.js";
export { asTsnetError, errorBody, STATUS } from "./errors.js";
export { clearStaleSocket, type ListeningServer, type ListenOptions, listen } from "./listen.js";

export {
  type CliIo,
  DEFAULT_SOCKET,
  DEFAULT_STATE_DIR,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  main,
  SHUTDOWN_DEADLINE_MS,
} from "./cli.js";
export { type ComposedDrivers, composeDrivers } from "./compose.js";
export { createLogger, LOG_LEVELS } from "./logger.js";
export { type Daemon, pluginNameOf, type ServeOptions, serve } from "./serve.js";

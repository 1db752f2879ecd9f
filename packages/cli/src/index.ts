export { ADMIN_ROUTES, type AdminContext, type AdminServer, type DaemonStatus, listenAdmin } from "./admin.js";
export { AdminError, adminJson, adminRequest, DaemonUnreachableError } from "./admin-client.js";
export {
  type CliIo,
  DEFAULT_ADMIN_SOCKET,
  DEFAULT_SOCKET,
  DEFAULT_STATE_DIR,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  main,
  SHUTDOWN_DEADLINE_MS,
} from "./cli.js";
export { type ComposedDrivers, composeDrivers } from "./compose.js";
export {
  type AddressPoolConfig,
  CONFIG_KEYS,
  ConfigError,
  DEFAULT_CONFIG_FILE,
  type ResolvedConfig,
  resolveConfig,
  type ServeConfig,
} from "./config.js";
export { type Check, runDoctor } from "./doctor.js";
export { collectGarbage, type GcReport } from "./gc.js";
export { findOrphans, type Orphan } from "./host.js";
export { createLogger, LOG_LEVELS } from "./logger.js";
export { RequestMetrics } from "./metrics.js";
export { type Daemon, pluginNameOf, type ServeOptions, serve } from "./serve.js";
export { renderTable } from "./table.js";

/** The daemon's pino logger: JSON lines, one destination, the level the user chose. */
import type { Logger } from "@tsnet/protocol";
import { destination, pino } from "pino";

/** Levels `--log-level` accepts, most verbose first. */
export const LOG_LEVELS: readonly string[] = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

/**
 * A pino logger writing JSON lines to `fd` (2 = stderr by default). Writes are synchronous so the lines of a
 * shutdown are never lost when the process exits.
 */
export function createLogger(level: string, fd = 2): Logger & { flush(): void } {
  return pino({ level, base: { pid: process.pid }, messageKey: "msg" }, destination({ fd, sync: true }));
}

/** A structured log call: stable fields first, then a constant message. pino's methods satisfy it. */
export type LogFn = (fields: Record<string, unknown>, message: string) => void;

/** The logger every tsnet library takes. Libraries never print; only the CLI and apps create a real one (pino). */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child(fields: Record<string, unknown>): Logger;
}

const ignore: LogFn = () => {};

/** A logger that drops everything: the default of every library. */
export const silentLogger: Logger = {
  debug: ignore,
  info: ignore,
  warn: ignore,
  error: ignore,
  child: () => silentLogger,
};

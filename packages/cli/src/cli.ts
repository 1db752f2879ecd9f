/** The `tsnet` command line: argument parsing, help, exit codes and signal handling. */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { isTsnetError } from "@tsnet/protocol";
import { createLogger, LOG_LEVELS } from "./logger.js";
import { serve } from "./serve.js";

/** Where the CLI writes its own (non-log) output. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** Exit codes: 0 ok, 1 runtime failure, 2 usage error (as most Unix tools). */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export const DEFAULT_SOCKET = "/run/docker/plugins/tsnet.sock";
export const DEFAULT_STATE_DIR = "/var/lib/tsnet";
/** Shutdown must finish within this; after it the process exits anyway, with EXIT_FAILURE. */
export const SHUTDOWN_DEADLINE_MS = 5_000;

const MAIN_HELP = `Usage: tsnet <command> [options]

Docker network and IPAM plugin (libnetwork remote driver protocol).

Commands:
  serve          Run the plugin daemon in the foreground

Options:
  -h, --help     Show this help
  -v, --version  Show the version

Run 'tsnet <command> --help' for a command's options.
`;

const SERVE_HELP = `Usage: tsnet serve [options]

Run the plugin daemon in the foreground. Docker finds it by its socket; the plugin's name
is the socket's file name without ".sock" (use it with 'docker network create -d NAME').
Stops cleanly on SIGTERM or SIGINT.

Options:
  --socket PATH        Unix socket to serve (default: ${DEFAULT_SOCKET})
  --state-dir DIR      Directory for persistent state (default: ${DEFAULT_STATE_DIR})
  --log-level LEVEL    ${LOG_LEVELS.join(", ")} (default: info)
  -h, --help           Show this help

Logs are JSON lines on stderr.
`;

function version(): string {
  const text = readFileSync(new URL("../package.json", import.meta.url), "utf8");
  return (JSON.parse(text) as { version: string }).version;
}

class UsageError extends Error {}

function usageMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // node:util parseArgs: "Unknown option '--sockt'. To specify a positional argument starting with a '-', ..."
  return message.split(". To specify")[0] ?? message;
}

interface ServeFlags {
  socket: string;
  stateDir: string;
  logLevel: string;
  help: boolean;
}

function parseServeFlags(args: string[]): ServeFlags {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        socket: { type: "string" },
        "state-dir": { type: "string" },
        "log-level": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    throw new UsageError(usageMessage(error));
  }
  const flags: ServeFlags = {
    socket: (values.socket as string | undefined) ?? DEFAULT_SOCKET,
    stateDir: (values["state-dir"] as string | undefined) ?? DEFAULT_STATE_DIR,
    logLevel: (values["log-level"] as string | undefined) ?? "info",
    help: values.help === true,
  };
  if (flags.socket === "") throw new UsageError("option '--socket' needs a path");
  if (flags.stateDir === "") throw new UsageError("option '--state-dir' needs a directory");
  if (!LOG_LEVELS.includes(flags.logLevel)) {
    throw new UsageError(`option '--log-level' must be one of ${LOG_LEVELS.join(", ")}, got '${flags.logLevel}'`);
  }
  // sun_path holds 108 bytes including the terminating NUL
  if (Buffer.byteLength(flags.socket) > 107) throw new UsageError("option '--socket' path is longer than 107 bytes");
  return flags;
}

/** Runs the daemon until SIGTERM/SIGINT; resolves with the exit code. */
async function runServe(flags: ServeFlags, io: CliIo): Promise<number> {
  const logger = createLogger(flags.logLevel);
  let daemon: Awaited<ReturnType<typeof serve>>;
  try {
    daemon = await serve({ socketPath: flags.socket, stateDir: flags.stateDir, logger });
  } catch (error) {
    logger.error({ err: error }, "start failed");
    const message = isTsnetError(error) || error instanceof Error ? error.message : String(error);
    io.stderr(`tsnet serve: ${message}\n`);
    return EXIT_FAILURE;
  }
  // A driver's stray promise rejection must not take the daemon down: v1 plugins are not restarted by dockerd,
  // and every later call would fail. An uncaught exception leaves the process in an unknown state: exit.
  process.on("unhandledRejection", (reason: unknown) => {
    logger.error({ err: reason instanceof Error ? reason.stack : String(reason) }, "unhandled rejection");
  });
  process.on("uncaughtException", (error: Error) => {
    logger.error({ err: error.stack ?? error.message }, "uncaught exception; exiting");
    process.exit(EXIT_FAILURE);
  });
  return new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      logger.info({ signal }, "stopping");
      const force = setTimeout(() => {
        logger.error({ deadlineMs: SHUTDOWN_DEADLINE_MS }, "shutdown took too long; exiting anyway");
        process.exit(EXIT_FAILURE);
      }, SHUTDOWN_DEADLINE_MS);
      force.unref();
      daemon.stop().then(
        () => {
          clearTimeout(force);
          resolve(EXIT_OK);
        },
        (error: unknown) => {
          clearTimeout(force);
          logger.error({ err: error }, "shutdown failed");
          resolve(EXIT_FAILURE);
        },
      );
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}

/**
 * Runs the CLI with `argv` (without node and script) and resolves with the process exit code.
 * Usage errors print a message naming the flag and exit 2.
 */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined) {
      io.stderr(MAIN_HELP);
      return EXIT_USAGE;
    }
    if (command === "-h" || command === "--help" || command === "help") {
      io.stdout(MAIN_HELP);
      return EXIT_OK;
    }
    if (command === "-v" || command === "--version") {
      io.stdout(`${version()}\n`);
      return EXIT_OK;
    }
    if (command === "serve") {
      const flags = parseServeFlags(rest);
      if (flags.help) {
        io.stdout(SERVE_HELP);
        return EXIT_OK;
      }
      return await runServe(flags, io);
    }
    throw new UsageError(command.startsWith("-") ? `unknown option '${command}'` : `unknown command '${command}'`);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    const where = command === "serve" ? "tsnet serve" : "tsnet";
    io.stderr(`${where}: ${error.message}\nRun '${where} --help' for usage.\n`);
    return EXIT_USAGE;
  }
}

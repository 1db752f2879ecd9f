/** The `tsnet` command line: argument parsing, help, exit codes and signal handling. */
import { parseArgs } from "node:util";
import { isTsnetError } from "@tsnet/protocol";
import { openJournalStore, openLmdbStore } from "@tsnet/store";
import { AdminError, adminRequest, DaemonUnreachableError } from "./admin-client.js";
import { endpointStoreDirectory } from "./compose.js";
import {
  ConfigError,
  DEFAULT_ADMIN_SOCKET,
  DEFAULT_CONFIG_FILE,
  DEFAULT_SOCKET,
  DEFAULT_STATE_DIR,
  parsePoolSpec,
  type RawConfig,
  resolveConfig,
} from "./config.js";
import { DOCKER_SOCKET } from "./docker-api.js";
import { renderChecks, runDoctor } from "./doctor.js";
import { collectGarbage, type GcReport } from "./gc.js";
import { HELP } from "./help.js";
import { fetchListing, fetchPools, fetchStatus, renderListing, renderPools, renderStatus } from "./inspect.js";
import { createLogger } from "./logger.js";
import { pluginNameOf, serve } from "./serve.js";
import { listNetworks } from "./state-view.js";
import { packageVersion } from "./version.js";

export { DEFAULT_ADMIN_SOCKET, DEFAULT_SOCKET, DEFAULT_STATE_DIR };

/** Where the CLI writes its own (non-log) output. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** The environment (default: process.env). */
  env?: Record<string, string | undefined>;
}

/** Exit codes: 0 ok, 1 runtime failure (or doctor found a problem), 2 usage or configuration error. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Shutdown must finish within this; after it the process exits anyway, with EXIT_FAILURE. */
export const SHUTDOWN_DEADLINE_MS = 5_000;

class UsageError extends Error {}

function usageMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // node:util parseArgs: "Unknown option '--sockt'. To specify a positional argument starting with a '-', ..."
  return message.split(". To specify")[0] ?? message;
}

type OptionSpec = Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }>;

function parse(
  args: string[],
  options: OptionSpec,
  positionals: number,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: positionals > 0,
      options: { ...options, help: { type: "boolean", short: "h" } },
    });
  } catch (error) {
    throw new UsageError(usageMessage(error));
  }
  if (parsed.positionals.length > positionals) {
    throw new UsageError(`unexpected argument '${parsed.positionals[positionals]}'`);
  }
  return parsed as { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] };
}

const SERVE_OPTIONS: OptionSpec = {
  config: { type: "string" },
  socket: { type: "string" },
  "admin-socket": { type: "string" },
  "state-dir": { type: "string" },
  "log-level": { type: "string" },
  "plugin-name": { type: "string" },
  mtu: { type: "string" },
  "default-address-pool": { type: "string", multiple: true },
};

/** Flags → raw config (validated with the other sources by resolveConfig). */
function flagsToConfig(values: Record<string, string | boolean | string[] | undefined>): RawConfig {
  const raw: RawConfig = {};
  const text = (flag: string): string | undefined => {
    const value = values[flag];
    if (value === "") throw new UsageError(`option '--${flag}' needs a value`);
    return typeof value === "string" ? value : undefined;
  };
  const set = (key: keyof RawConfig, flag: string) => {
    const value = text(flag);
    if (value !== undefined) raw[key] = value;
  };
  set("socket", "socket");
  set("adminSocket", "admin-socket");
  set("stateDir", "state-dir");
  set("logLevel", "log-level");
  set("pluginName", "plugin-name");
  set("mtu", "mtu");
  const pools = values["default-address-pool"];
  if (Array.isArray(pools)) {
    raw.defaultAddressPools = pools.map((spec) => parsePoolSpec(spec, "option '--default-address-pool'"));
  }
  return raw;
}

/** Runs the daemon until SIGTERM/SIGINT; resolves with the exit code. */
async function runServe(args: string[], io: CliIo, env: Record<string, string | undefined>): Promise<number> {
  const { values } = parse(args, SERVE_OPTIONS, 0);
  if (values.help === true) {
    io.stdout(HELP.serve);
    return EXIT_OK;
  }
  const resolved = resolveConfig({
    flags: flagsToConfig(values),
    env,
    configFile: values.config as string | undefined,
  });
  const { config } = resolved;
  const logger = createLogger(config.logLevel);
  // Signal handlers go in before serving starts: "serving" is logged before serve() returns, and a SIGTERM/SIGINT
  // arriving in between (a supervisor reacting to that line) would otherwise kill the process without a clean stop.
  let received: NodeJS.Signals | undefined;
  let onSignal: ((signal: NodeJS.Signals) => void) | undefined;
  const handleSignal = (signal: NodeJS.Signals): void => {
    received ??= signal;
    onSignal?.(signal);
  };
  process.on("SIGTERM", handleSignal);
  process.on("SIGINT", handleSignal);
  const removeHandlers = (): void => {
    process.off("SIGTERM", handleSignal);
    process.off("SIGINT", handleSignal);
  };
  let daemon: Awaited<ReturnType<typeof serve>>;
  try {
    daemon = await serve({
      socketPath: config.socket,
      adminSocketPath: config.adminSocket,
      adminSocketRequired: resolved.sources.adminSocket !== "default",
      stateDir: config.stateDir,
      logger,
      pluginName: config.pluginName,
      defaultAddressPools: config.defaultAddressPools,
      mtu: config.mtu,
      configFile: resolved.file,
    });
  } catch (error) {
    removeHandlers();
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
    onSignal = (signal: NodeJS.Signals): void => {
      removeHandlers();
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
    if (received !== undefined) onSignal(received);
  });
}

const CLIENT_OPTIONS: OptionSpec = {
  config: { type: "string" },
  "admin-socket": { type: "string" },
  json: { type: "boolean" },
};

/** The admin socket (and other paths) a client command uses: flag > TSNET_* > config file > default. */
function clientConfig(
  values: Record<string, string | boolean | string[] | undefined>,
  env: Record<string, string | undefined>,
) {
  const flags: RawConfig = {};
  for (const [flag, key] of [
    ["admin-socket", "adminSocket"],
    ["socket", "socket"],
    ["state-dir", "stateDir"],
    ["plugin-name", "pluginName"],
  ] as const) {
    const value = values[flag];
    if (value === "") throw new UsageError(`option '--${flag}' needs a value`);
    if (typeof value === "string") flags[key] = value;
  }
  return resolveConfig({ flags, env, configFile: values.config as string | undefined }).config;
}

async function runStatus(args: string[], io: CliIo, env: Record<string, string | undefined>): Promise<number> {
  const { values } = parse(args, CLIENT_OPTIONS, 0);
  if (values.help === true) return help(io, "status");
  const config = clientConfig(values, env);
  const status = await fetchStatus(config.adminSocket);
  io.stdout(values.json === true ? `${JSON.stringify(status, null, 2)}\n` : renderStatus(status));
  return EXIT_OK;
}

async function runLs(args: string[], io: CliIo, env: Record<string, string | undefined>): Promise<number> {
  const { values } = parse(args, CLIENT_OPTIONS, 0);
  if (values.help === true) return help(io, "ls");
  const config = clientConfig(values, env);
  const listing = await fetchListing(config.adminSocket);
  io.stdout(
    values.json === true ? `${JSON.stringify(listing, null, 2)}\n` : renderListing(listing.networks, listing.pools),
  );
  return EXIT_OK;
}

async function runIpam(args: string[], io: CliIo, env: Record<string, string | undefined>): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === "-h" || sub === "--help" || sub === undefined) {
    if (sub === undefined) throw new UsageError("missing sub-command (show)");
    return help(io, "ipam");
  }
  if (sub !== "show") throw new UsageError(`unknown sub-command 'ipam ${sub}'`);
  const { values, positionals } = parse(rest, { ...CLIENT_OPTIONS, "docker-socket": { type: "string" } }, 1);
  if (values.help === true) return help(io, "ipam");
  const network = positionals[0];
  if (network === undefined || network === "")
    throw new UsageError("missing NETWORK (a NetworkID prefix, name, PoolID or CIDR)");
  const config = clientConfig(values, env);
  const dockerSocket = (values["docker-socket"] as string | undefined) ?? DOCKER_SOCKET;
  let pools: Awaited<ReturnType<typeof fetchPools>>;
  try {
    pools = await fetchPools(config.adminSocket, network, dockerSocket);
  } catch (error) {
    if (error instanceof AdminError && error.status === 404) {
      io.stderr(`tsnet ipam show: no tsnet pool for "${network}" (not a tsnet network, NetworkID, PoolID or CIDR)\n`);
      return EXIT_FAILURE;
    }
    throw error;
  }
  io.stdout(values.json === true ? `${JSON.stringify(pools, null, 2)}\n` : renderPools(pools));
  return EXIT_OK;
}

async function runDoctorCommand(args: string[], io: CliIo, env: Record<string, string | undefined>): Promise<number> {
  const { values } = parse(args, { ...CLIENT_OPTIONS, socket: { type: "string" }, "state-dir": { type: "string" } }, 0);
  if (values.help === true) return help(io, "doctor");
  const config = clientConfig(values, env);
  const checks = await runDoctor({ socket: config.socket, adminSocket: config.adminSocket, stateDir: config.stateDir });
  io.stdout(values.json === true ? `${JSON.stringify(checks, null, 2)}\n` : renderChecks(checks));
  return checks.some((check) => check.status === "problem") ? EXIT_FAILURE : EXIT_OK;
}

function renderGc(report: GcReport): string {
  const lines: string[] = [];
  if (report.orphans.length === 0) lines.push("Nothing to collect: every tsnet link, table and jump has an owner.");
  else {
    lines.push(`${report.applied ? "Orphans" : "Would remove (dry run; --apply to act)"}:`);
    for (const orphan of report.orphans) lines.push(`  ${orphan.kind.padEnd(5)} ${orphan.name}  (${orphan.why})`);
  }
  if (report.applied) {
    lines.push(
      `Removed ${report.removed.length}${report.failed.length > 0 ? `, failed ${report.failed.length}` : ""} (${report.mode === "daemon" ? "by the daemon" : "offline"}).`,
    );
    for (const failure of report.failed) lines.push(`  failed ${failure.name}: ${failure.error}`);
  }
  return `${lines.join("\n")}\n`;
}

async function runGc(args: string[], io: CliIo, env: Record<string, string | undefined>): Promise<number> {
  const { values } = parse(
    args,
    {
      ...CLIENT_OPTIONS,
      apply: { type: "boolean" },
      offline: { type: "boolean" },
      "state-dir": { type: "string" },
      "settle-ms": { type: "string" },
    },
    0,
  );
  if (values.help === true) return help(io, "gc");
  const config = clientConfig(values, env);
  const apply = values.apply === true;
  const settle = values["settle-ms"];
  if (settle !== undefined && (typeof settle !== "string" || !/^\d{1,5}$/.test(settle) || Number(settle) > 60_000)) {
    throw new UsageError(`option '--settle-ms' must be 0-60000, got '${String(settle)}'`);
  }
  let report: GcReport;
  if (values.offline !== true) {
    const query = new URLSearchParams({ apply: String(apply) });
    if (typeof settle === "string") query.set("settleMs", settle);
    try {
      report = JSON.parse(await adminRequest(config.adminSocket, "POST", `/v1/gc?${query}`, 120_000)) as GcReport;
    } catch (error) {
      if (!(error instanceof DaemonUnreachableError)) throw error;
      io.stderr(
        `tsnet gc: ${error.message}\nThe daemon does the collection when it runs. With it stopped, 'tsnet gc --offline${apply ? " --apply" : ""}' reads the state dir (${config.stateDir}) itself.\n`,
      );
      return EXIT_FAILURE;
    }
  } else {
    let store: Awaited<ReturnType<typeof openLmdbStore>>;
    let endpoints: Awaited<ReturnType<typeof openJournalStore>>;
    try {
      store = await openLmdbStore({ directory: config.stateDir });
      endpoints = await openJournalStore({ directory: endpointStoreDirectory(config.stateDir) }).catch(
        async (error: unknown) => {
          await store.close();
          throw error;
        },
      );
    } catch (error) {
      io.stderr(
        `tsnet gc --offline: ${(error as Error).message}\nA running daemon holds the state dir: run 'tsnet gc' without --offline so the daemon does it.\n`,
      );
      return EXIT_FAILURE;
    }
    try {
      report = await collectGarbage(() => listNetworks({ store, endpoints }), {
        apply,
        mode: "offline",
        pluginName: config.pluginName ?? pluginNameOf(config.socket),
        ...(typeof settle === "string" ? { settleMs: Number(settle) } : {}),
      });
    } finally {
      await endpoints.close();
      await store.close();
    }
  }
  io.stdout(values.json === true ? `${JSON.stringify(report, null, 2)}\n` : renderGc(report));
  return report.failed.length > 0 ? EXIT_FAILURE : EXIT_OK;
}

function help(io: CliIo, topic: keyof typeof HELP): number {
  io.stdout(HELP[topic]);
  return EXIT_OK;
}

const COMMANDS: Record<
  string,
  (args: string[], io: CliIo, env: Record<string, string | undefined>) => Promise<number>
> = {
  serve: runServe,
  status: runStatus,
  ls: runLs,
  ipam: runIpam,
  doctor: runDoctorCommand,
  gc: runGc,
};

/**
 * Runs the CLI with `argv` (without node and script) and resolves with the process exit code.
 * Usage and configuration errors print a message naming the flag, key or variable and exit 2.
 */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  const env = io.env ?? process.env;
  const where = command !== undefined && command in COMMANDS ? `tsnet ${command}` : "tsnet";
  try {
    if (command === undefined) {
      io.stderr(HELP.main);
      return EXIT_USAGE;
    }
    if (command === "-h" || command === "--help") return help(io, "main");
    if (command === "help") {
      const topic = rest[0];
      if (topic === undefined) return help(io, "main");
      if (!(topic in HELP) || topic === "main") throw new UsageError(`no help for '${topic}'`);
      return help(io, topic as keyof typeof HELP);
    }
    if (command === "-v" || command === "--version" || command === "version") {
      io.stdout(`${packageVersion()}\n`);
      return EXIT_OK;
    }
    const run = COMMANDS[command];
    if (run === undefined) {
      throw new UsageError(command.startsWith("-") ? `unknown option '${command}'` : `unknown command '${command}'`);
    }
    return await run(rest, io, env);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`${where}: ${error.message}\nRun '${where} --help' for usage.\n`);
      return EXIT_USAGE;
    }
    if (error instanceof ConfigError) {
      io.stderr(`${where}: ${error.message}\n`);
      return EXIT_USAGE;
    }
    if (error instanceof DaemonUnreachableError || error instanceof AdminError) {
      io.stderr(`${where}: ${error.message}\n`);
      return EXIT_FAILURE;
    }
    throw error;
  }
}

export { DEFAULT_CONFIG_FILE };

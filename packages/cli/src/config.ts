/**
 * `tsnet serve` configuration: a JSON file, environment variables and flags, merged in that order (flags win), then
 * validated as a whole. Every refusal names where the value came from (file path + key path, variable, or flag) and
 * why, e.g. `/etc/tsnet/config.json: defaultAddressPools[0].size: 33 is not a prefix length 1-32`.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { MAX_MTU, MIN_MTU } from "@tsnet/protocol";
import { LOG_LEVELS } from "./logger.js";

/** One `defaultAddressPools` entry: `base` cut into networks of prefix length `size` (dockerd's --default-address-pool). */
export interface AddressPoolConfig {
  base: string;
  size: number;
}

/** The daemon's settings after merging and validation. */
export interface ServeConfig {
  /** Plugin socket (Docker's v1 plugin name is its file name without `.sock`). */
  socket: string;
  /** Admin socket for `tsnet status/ls/ipam/gc` (mode 0600). */
  adminSocket: string;
  stateDir: string;
  logLevel: string;
  /** The name Docker knows the plugin by; default: derived from the socket (v1) — a v2 plugin sets `name:tag`. */
  pluginName?: string;
  /** Local default pools for `docker network create` without `--subnet`; default: Docker's list. */
  defaultAddressPools?: AddressPoolConfig[];
  /** Bridge MTU when a network sets none (`-o com.docker.network.driver.mtu`). */
  mtu: number;
}

/** Where each setting of the merged configuration came from (for `tsnet status` and error messages). */
export type ConfigSource = "default" | "file" | "env" | "flag";

export const DEFAULT_CONFIG_FILE = "/etc/tsnet/config.json";
export const DEFAULT_SOCKET = "/run/docker/plugins/tsnet.sock";
export const DEFAULT_ADMIN_SOCKET = "/run/tsnet/admin.sock";
export const DEFAULT_STATE_DIR = "/var/lib/tsnet";
export const DEFAULT_MTU = 1500;

const DEFAULTS: ServeConfig = {
  socket: DEFAULT_SOCKET,
  adminSocket: DEFAULT_ADMIN_SOCKET,
  stateDir: DEFAULT_STATE_DIR,
  logLevel: "info",
  mtu: DEFAULT_MTU,
};

/** A configuration the daemon refuses; the CLI prints it and exits 2. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Documented file keys, their environment variable and flag (the README's table is this list). */
export const CONFIG_KEYS: ReadonlyArray<{ key: keyof ServeConfig; env: string; flag: string; what: string }> = [
  { key: "socket", env: "TSNET_SOCKET", flag: "--socket", what: "plugin socket path" },
  { key: "adminSocket", env: "TSNET_ADMIN_SOCKET", flag: "--admin-socket", what: "admin socket path (mode 0600)" },
  { key: "stateDir", env: "TSNET_STATE_DIR", flag: "--state-dir", what: "persistent state directory" },
  { key: "logLevel", env: "TSNET_LOG_LEVEL", flag: "--log-level", what: `one of ${LOG_LEVELS.join(", ")}` },
  { key: "pluginName", env: "TSNET_PLUGIN_NAME", flag: "--plugin-name", what: "name Docker knows the plugin by" },
  {
    key: "defaultAddressPools",
    env: "TSNET_DEFAULT_ADDRESS_POOLS",
    flag: "--default-address-pool",
    what: "default pools, [{base, size}]",
  },
  { key: "mtu", env: "TSNET_MTU", flag: "--mtu", what: `default bridge MTU ${MIN_MTU}-${MAX_MTU}` },
];

/** Raw settings from one source, before validation: strings from env/flags, anything from JSON. */
export type RawConfig = Partial<Record<keyof ServeConfig, unknown>>;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Reads and parses the config file. `required`: the user named it (missing is an error); otherwise a missing
 * default file is no file.
 * @throws ConfigError unreadable, not JSON, not an object, or an unknown key
 */
export function readConfigFile(path: string, required: boolean): RawConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if (!required && (error as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new ConfigError(`${path}: cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${path}: not JSON: ${(error as Error).message}`);
  }
  if (!isPlainObject(value)) throw new ConfigError(`${path}: must be a JSON object of settings`);
  const known = new Set<string>(CONFIG_KEYS.map((entry) => entry.key));
  for (const key of Object.keys(value)) {
    if (!known.has(key)) {
      throw new ConfigError(`${path}: ${key}: unknown key (known: ${[...known].join(", ")})`);
    }
  }
  return value as RawConfig;
}

/**
 * Parses `base=CIDR,size=N` (dockerd's --default-address-pool syntax); several pools in one variable are
 * separated by `;` or spaces.
 * @throws ConfigError naming `where`
 */
export function parsePoolSpec(text: string, where: string): AddressPoolConfig {
  const fields: Record<string, string> = {};
  for (const part of text.split(",")) {
    const at = part.indexOf("=");
    if (at <= 0) throw new ConfigError(`${where}: "${text}" is not base=CIDR,size=N`);
    fields[part.slice(0, at).trim()] = part.slice(at + 1).trim();
  }
  const extra = Object.keys(fields).filter((key) => key !== "base" && key !== "size");
  if (extra.length > 0 || fields.base === undefined || fields.size === undefined) {
    throw new ConfigError(`${where}: "${text}" is not base=CIDR,size=N`);
  }
  if (!/^\d+$/.test(fields.size)) throw new ConfigError(`${where}: size "${fields.size}" is not a prefix length`);
  return { base: fields.base, size: Number(fields.size) };
}

/** Settings from the environment (`TSNET_*`); unset or empty variables are ignored. */
export function readEnvironment(env: Record<string, string | undefined>): RawConfig {
  const raw: RawConfig = {};
  for (const entry of CONFIG_KEYS) {
    const value = env[entry.env];
    if (value === undefined || value === "") continue;
    if (entry.key === "defaultAddressPools") {
      raw.defaultAddressPools = value
        .split(/[;\s]+/)
        .filter(Boolean)
        .map((spec) => parsePoolSpec(spec, entry.env));
    } else raw[entry.key] = value;
  }
  return raw;
}

function checkPath(value: unknown, where: string, what: string): string {
  if (typeof value !== "string" || value === "") throw new ConfigError(`${where}: ${what} must be a non-empty path`);
  if (!value.startsWith("/")) throw new ConfigError(`${where}: "${value}" must be an absolute path`);
  return value;
}

function checkSocket(value: unknown, where: string): string {
  const path = checkPath(value, where, "socket");
  // sun_path holds 108 bytes including the terminating NUL
  if (Buffer.byteLength(path) > 107) throw new ConfigError(`${where}: "${path}" is longer than 107 bytes`);
  return path;
}

function checkMtu(value: unknown, where: string, fromText: boolean): number {
  // environment and flags are text; a JSON file must give a number
  const mtu = fromText && typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof mtu !== "number" || !Number.isInteger(mtu) || mtu < MIN_MTU || mtu > MAX_MTU) {
    throw new ConfigError(`${where}: ${JSON.stringify(value)} is not an integer from ${MIN_MTU} to ${MAX_MTU}`);
  }
  return mtu;
}

function checkPools(value: unknown, where: string): AddressPoolConfig[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new ConfigError(`${where}: must be a non-empty list of {"base": CIDR, "size": prefix length}`);
  }
  return value.map((entry: unknown, index) => {
    const at = `${where}[${index}]`;
    if (!isPlainObject(entry)) throw new ConfigError(`${at}: must be {"base": CIDR, "size": prefix length}`);
    for (const key of Object.keys(entry)) {
      if (key !== "base" && key !== "size") throw new ConfigError(`${at}.${key}: unknown key (known: base, size)`);
    }
    const { base, size } = entry;
    if (typeof base !== "string") throw new ConfigError(`${at}.base: must be a CIDR string like "10.10.0.0/16"`);
    const match = /^(.+)\/(\d{1,3})$/.exec(base);
    const family = match?.[1] === undefined ? 0 : isIP(match[1]);
    if (match === null || family === 0) throw new ConfigError(`${at}.base: "${base}" is not a CIDR`);
    const bits = family === 4 ? 32 : 128;
    const basePrefix = Number(match[2]);
    if (basePrefix > bits) throw new ConfigError(`${at}.base: "${base}" has a prefix length over ${bits}`);
    if (typeof size !== "number" || !Number.isInteger(size) || size < 1 || size > bits) {
      throw new ConfigError(`${at}.size: ${JSON.stringify(size)} is not a prefix length 1-${bits}`);
    }
    if (size < basePrefix) {
      throw new ConfigError(`${at}.size: ${size} is shorter than the base's prefix length ${basePrefix}`);
    }
    return { base, size };
  });
}

/** Where a key's value came from, for messages: `FILE: key`, `TSNET_X`, `--flag`. */
function whereOf(key: keyof ServeConfig, source: ConfigSource, file: string): string {
  const entry = CONFIG_KEYS.find((candidate) => candidate.key === key);
  if (source === "file") return `${file}: ${key}`;
  if (source === "env") return entry?.env ?? key;
  if (source === "flag") return `option '${entry?.flag ?? key}'`;
  return `default ${key}`;
}

/** The inputs of {@link resolveConfig}. */
export interface ConfigInputs {
  /** Settings from flags (highest precedence). */
  flags: RawConfig;
  /** The process environment. */
  env: Record<string, string | undefined>;
  /** `--config PATH` or `TSNET_CONFIG`; undefined → {@link DEFAULT_CONFIG_FILE} if it exists. */
  configFile?: string | undefined;
}

/** The merged, validated configuration and where each value came from. */
export interface ResolvedConfig {
  config: ServeConfig;
  sources: Record<keyof ServeConfig, ConfigSource>;
  /** The config file that was read, if any. */
  file: string | undefined;
}

/**
 * Merges defaults < file < environment < flags and validates the result.
 * @throws ConfigError naming the source and key of the first bad value
 */
export function resolveConfig(inputs: ConfigInputs): ResolvedConfig {
  const named = inputs.configFile ?? inputs.env.TSNET_CONFIG;
  const file = named ?? DEFAULT_CONFIG_FILE;
  const fromFile = readConfigFile(file, named !== undefined);
  const fileUsed = Object.keys(fromFile).length > 0 || named !== undefined ? file : undefined;
  const layers: Array<[ConfigSource, RawConfig]> = [
    ["file", fromFile],
    ["env", readEnvironment(inputs.env)],
    ["flag", inputs.flags],
  ];
  const raw: RawConfig = { ...DEFAULTS };
  const sources = {} as Record<keyof ServeConfig, ConfigSource>;
  for (const entry of CONFIG_KEYS) sources[entry.key] = "default";
  for (const [source, layer] of layers) {
    for (const entry of CONFIG_KEYS) {
      if (layer[entry.key] === undefined) continue;
      raw[entry.key] = layer[entry.key];
      sources[entry.key] = source;
    }
  }
  const at = (key: keyof ServeConfig) => whereOf(key, sources[key], file);
  const logLevel = raw.logLevel;
  if (typeof logLevel !== "string" || !LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`${at("logLevel")}: ${JSON.stringify(logLevel)} is not one of ${LOG_LEVELS.join(", ")}`);
  }
  const config: ServeConfig = {
    socket: checkSocket(raw.socket, at("socket")),
    adminSocket: checkSocket(raw.adminSocket, at("adminSocket")),
    stateDir: checkPath(raw.stateDir, at("stateDir"), "state directory"),
    logLevel,
    mtu: checkMtu(raw.mtu, at("mtu"), sources.mtu === "env" || sources.mtu === "flag"),
  };
  if (config.adminSocket === config.socket) {
    throw new ConfigError(`${at("adminSocket")}: "${config.adminSocket}" is also the plugin socket`);
  }
  if (raw.pluginName !== undefined) {
    const name = raw.pluginName;
    if (typeof name !== "string" || !/^[a-z0-9][a-z0-9._/-]*(:[\w][\w.-]{0,127})?$/.test(name)) {
      throw new ConfigError(
        `${at("pluginName")}: ${JSON.stringify(name)} is not a plugin name like tsnet or org/tsnet:latest`,
      );
    }
    config.pluginName = name;
  }
  if (raw.defaultAddressPools !== undefined) {
    config.defaultAddressPools = checkPools(raw.defaultAddressPools, at("defaultAddressPools"));
  }
  return { config, sources, file: fileUsed };
}

/**
 * Typed readers for the string options Docker passes in `com.docker.network.generic` (`-o k=v`). Each returns
 * undefined when the key is absent and throws TsnetError("INVALID_ARGUMENT") naming the option and the value.
 */
import { TsnetError } from "./error.js";
import { parseIpv4 } from "./ip.js";
import { MTU_OPTION } from "./labels.js";

function reject(key: string, value: string, expected: string): never {
  throw new TsnetError("INVALID_ARGUMENT", `option ${key} ${JSON.stringify(value)} ${expected}`);
}

/** The smallest and largest MTU tsnet accepts: IPv4's minimum (RFC 791) and the 16-bit field's maximum. */
export const MIN_MTU = 68;
export const MAX_MTU = 65535;

/**
 * Reads an MTU: a decimal string as Docker writes it (`"1400"`), 68..65535.
 * @throws INVALID_ARGUMENT, e.g. `option com.docker.network.driver.mtu "abc" is not an integer from 68 to 65535`
 */
export function readMtu(options: Record<string, string>, key: string = MTU_OPTION): number | undefined {
  const value = options[key];
  if (value === undefined) return undefined;
  const mtu = /^[0-9]{1,5}$/.test(value) ? Number(value) : Number.NaN;
  if (!(mtu >= MIN_MTU && mtu <= MAX_MTU)) reject(key, value, `is not an integer from ${MIN_MTU} to ${MAX_MTU}`);
  return mtu;
}

const TRUE = new Set(["1", "t", "T", "TRUE", "true", "True"]);
const FALSE = new Set(["0", "f", "F", "FALSE", "false", "False"]);

/** Parses a boolean exactly as Go's strconv.ParseBool: 1 t T TRUE true True / 0 f F FALSE false False. */
export function parseBoolean(text: string): boolean | undefined {
  if (TRUE.has(text)) return true;
  if (FALSE.has(text)) return false;
  return undefined;
}

/**
 * Reads a boolean option (`com.docker.network.bridge.enable_icc=false`).
 * @throws INVALID_ARGUMENT when the value is not one strconv.ParseBool accepts
 */
export function readBoolean(options: Record<string, string>, key: string): boolean | undefined {
  const value = options[key];
  if (value === undefined) return undefined;
  const flag = parseBoolean(value);
  if (flag === undefined) reject(key, value, "is not a boolean (true/false/1/0)");
  return flag;
}

/** Whether `name` is a valid Linux interface name: 1-15 bytes, none of `/`, `:` or whitespace, not `.` or `..`. */
export function isInterfaceName(name: string): boolean {
  if (name === "" || name === "." || name === "..") return false;
  if (new TextEncoder().encode(name).length > 15) return false;
  return !/[/:\s]/.test(name);
}

/**
 * Reads a Linux interface name option (`com.docker.network.bridge.name`).
 * @throws INVALID_ARGUMENT when the name is empty, longer than 15 bytes, `.`/`..`, or holds `/`, `:` or whitespace
 */
export function readInterfaceName(options: Record<string, string>, key: string): string | undefined {
  const value = options[key];
  if (value === undefined) return undefined;
  if (!isInterfaceName(value)) {
    reject(key, value, "is not a Linux interface name (1-15 bytes, no '/', ':' or whitespace, not '.' or '..')");
  }
  return value;
}

/**
 * Reads a plain IPv4 address option (`com.docker.network.bridge.host_binding_ipv4`), returned as written.
 * @throws INVALID_ARGUMENT when the value is not a dotted quad
 */
export function readIpv4(options: Record<string, string>, key: string): string | undefined {
  const value = options[key];
  if (value === undefined) return undefined;
  if (parseIpv4(value) === undefined) reject(key, value, "is not an IPv4 address");
  return value;
}

/**
 * Reads an integer option in [min, max] (decimal, no sign, no leading `+`).
 * @throws INVALID_ARGUMENT when the value is not such an integer
 */
export function readInteger(
  options: Record<string, string>,
  key: string,
  min: number,
  max: number,
): number | undefined {
  const value = options[key];
  if (value === undefined) return undefined;
  const n = /^[0-9]{1,15}$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= min && n <= max)) reject(key, value, `is not an integer from ${min} to ${max}`);
  return n;
}

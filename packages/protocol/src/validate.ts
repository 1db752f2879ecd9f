/**
 * Building blocks of the request parsers: field lookup with Go's case-insensitive matching, and one error shape,
 * `Call: Field.Path <value> <what is wrong>`, always TsnetError("INVALID_ARGUMENT").
 */
import { TsnetError } from "./error.js";
import { parseCidr, parseIp } from "./ip.js";

export type JsonObject = Record<string, unknown>;

/** Renders a bad value for a message: JSON, cut to 64 characters so a huge body cannot flood a log line. */
export function showValue(value: unknown): string {
  let text: string;
  try {
    text = value === undefined ? "undefined" : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > 64 ? `${text.slice(0, 61)}...` : text;
}

/** Throws the one parser error: `CreateEndpoint: Interface.Address "x" is not an IPv4 CIDR`. */
export function invalid(call: string, path: string, value: unknown, problem: string): never {
  throw new TsnetError("INVALID_ARGUMENT", `${call}: ${path} ${showValue(value)} ${problem}`);
}

/** Throws `Call: Path is missing`. */
export function missing(call: string, path: string): never {
  throw new TsnetError("INVALID_ARGUMENT", `${call}: ${path} is missing`);
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Reads a struct field the way Go's encoding/json does: the exact key if present, else any key equal ignoring
 * case. Option maps (Go `map[string]...`) are case-sensitive and are read with plain indexing instead.
 */
export function field(object: JsonObject, key: string): unknown {
  if (Object.hasOwn(object, key)) return object[key];
  const lower = key.toLowerCase();
  let found: unknown;
  for (const candidate in object) {
    if (candidate.length === key.length && candidate.toLowerCase() === lower) found = object[candidate];
  }
  return found;
}

/** A cursor over one JSON object: `call` and `path` name it in errors. */
export class Fields {
  constructor(
    readonly call: string,
    readonly path: string,
    readonly object: JsonObject,
  ) {}

  /** The path of a field, for messages: `Interface.Address`. */
  at(key: string): string {
    return this.path === "" ? key : `${this.path}.${key}`;
  }

  /** The raw value; JSON null reads as absent, as Go leaves the zero value. */
  get(key: string): unknown {
    const value = field(this.object, key);
    return value === null ? undefined : value;
  }

  /** A string that must be present and non-empty. */
  requiredString(key: string): string {
    const value = this.get(key);
    if (value === undefined || value === "") missing(this.call, this.at(key));
    if (typeof value !== "string") invalid(this.call, this.at(key), value, "is not a string");
    return value;
  }

  /** A string; absent → "". */
  string(key: string): string {
    const value = this.get(key);
    if (value === undefined) return "";
    if (typeof value !== "string") invalid(this.call, this.at(key), value, "is not a string");
    return value;
  }

  /** A boolean; absent → false. */
  boolean(key: string): boolean {
    const value = this.get(key);
    if (value === undefined) return false;
    if (typeof value !== "boolean") invalid(this.call, this.at(key), value, "is not a boolean");
    return value;
  }

  /** An integer in [min, max]; `fallback` when absent (required when fallback is undefined). */
  integer(key: string, min: number, max: number, fallback?: number): number {
    const value = this.get(key);
    if (value === undefined) {
      if (fallback === undefined) missing(this.call, this.at(key));
      return fallback;
    }
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      invalid(this.call, this.at(key), value, `is not an integer from ${min} to ${max}`);
    }
    return value;
  }

  /** A nested object; absent → undefined. */
  nested(key: string): Fields | undefined {
    const value = this.get(key);
    if (value === undefined) return undefined;
    if (!isObject(value)) invalid(this.call, this.at(key), value, "is not an object");
    return new Fields(this.call, this.at(key), value);
  }

  /** An array; absent → []. */
  array(key: string): unknown[] {
    const value = this.get(key);
    if (value === undefined) return [];
    if (!Array.isArray(value)) invalid(this.call, this.at(key), value, "is not an array");
    return value;
  }

  /** A 64-hex-character Docker ID (NetworkID, EndpointID). */
  id(key: string): string {
    const value = this.requiredString(key);
    if (!isDockerId(value)) invalid(this.call, this.at(key), value, "is not a 64-character hex ID");
    return value;
  }

  /** A Go `map[string]string`; absent or null → {}. */
  stringMap(key: string): Record<string, string> {
    const value = this.get(key);
    if (value === undefined) return {};
    return readStringMap(this.call, this.at(key), value);
  }

  /** "" or a CIDR of the given family. */
  optionalCidr(key: string, family: 4 | 6): string {
    const value = this.string(key);
    if (value !== "") checkCidr(this.call, this.at(key), value, family);
    return value;
  }
}

/** Validates a string → string map (a Go map is case-sensitive; keys are kept as sent). */
export function readStringMap(call: string, path: string, value: unknown): Record<string, string> {
  if (!isObject(value)) invalid(call, path, value, "is not an object of strings");
  const result: Record<string, string> = {};
  for (const key in value) {
    const item = value[key];
    if (typeof item !== "string") invalid(call, `${path}[${JSON.stringify(key)}]`, item, "is not a string");
    result[key] = item;
  }
  return result;
}

const DOCKER_ID = /^[0-9a-fA-F]{64}$/;

/** Whether `text` is a Docker object ID: 64 hex characters. */
export function isDockerId(text: string): boolean {
  return DOCKER_ID.test(text);
}

/** Throws unless `value` is a CIDR of `family`. */
export function checkCidr(call: string, path: string, value: string, family: 4 | 6): void {
  const cidr = parseCidr(value);
  if (cidr === undefined || cidr.family !== family) invalid(call, path, value, `is not an IPv${family} CIDR`);
}

/** Throws unless `value` is a plain IP address (of `family` when given). */
export function checkIp(call: string, path: string, value: string, family?: 4 | 6): void {
  const ip = parseIp(value);
  if (ip === undefined || (family !== undefined && ip.family !== family)) {
    invalid(call, path, value, family === undefined ? "is not an IP address" : `is not an IPv${family} address`);
  }
}

const MAC = /^(?:[0-9a-fA-F]{2}(?:([:-])[0-9a-fA-F]{2}){5}|[0-9a-fA-F]{4}(?:\.[0-9a-fA-F]{4}){2})$/;

/**
 * Whether `text` is a 6-byte MAC in a form Go's `net.ParseMAC` takes: `02:42:ac:11:00:02`, `02-42-...`,
 * `0242.ac11.0002`. (ParseMAC also takes 8- and 20-byte forms; Ethernet endpoints never carry them.)
 */
export function isMacAddress(text: string): boolean {
  const match = MAC.exec(text);
  if (match === null) return false;
  // one separator throughout: reject "02:42-ac:11:00:02"
  const separator = match[1];
  return separator === undefined || !text.includes(separator === ":" ? "-" : ":");
}

import { TsnetError } from "@tsnet/protocol";
import { type Network, parseNetwork } from "./address.js";

/** Parses a request CIDR field of the family the request's V6 flag says. @throws TsnetError INVALID_ARGUMENT */
export function parseFamilyNetwork(call: string, field: string, text: string, family: 4 | 6): Network {
  const network = typeof text === "string" ? parseNetwork(text) : undefined;
  if (network === undefined) throw new TsnetError("INVALID_ARGUMENT", `${call}: ${field} "${text}" is not a CIDR`);
  if (network.family !== family) {
    throw new TsnetError(
      "INVALID_ARGUMENT",
      `${call}: ${field} "${text}" is IPv${network.family} but V6 is ${family === 6 ? "true" : "false"}`,
    );
  }
  return network;
}

/** A string → string map; null/undefined is {}. @throws TsnetError INVALID_ARGUMENT naming the bad key */
export function stringMap(call: string, field: string, value: unknown): Record<string, string> {
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new TsnetError("INVALID_ARGUMENT", `${call}: ${field} must be an object of strings`);
  }
  const out: Record<string, string> = {};
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== "string") {
      throw new TsnetError("INVALID_ARGUMENT", `${call}: ${field}["${key}"] must be a string`);
    }
    out[key] = item;
  }
  return out;
}

/** Checks the PoolID shape `<space>/<cidr>` or `<space>/<cidr>/<sub-pool cidr>`. */
export function checkPoolId(call: string, poolId: unknown): void {
  const parts = typeof poolId === "string" ? poolId.split("/") : [];
  const ok =
    (parts.length === 3 || parts.length === 5) &&
    (parts[0] as string).length > 0 &&
    parseNetwork(`${parts[1]}/${parts[2]}`) !== undefined &&
    (parts.length === 3 || parseNetwork(`${parts[3]}/${parts[4]}`) !== undefined);
  if (!ok) {
    throw new TsnetError(
      "INVALID_ARGUMENT",
      `${call}: PoolID "${String(poolId)}" is not "<address space>/<CIDR>" or "<address space>/<CIDR>/<CIDR>"`,
    );
  }
}

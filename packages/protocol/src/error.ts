/** The closed set of failure kinds. The server maps each to one HTTP status (packages/server/src/errors.ts). */
export type ErrorCode = "INVALID_ARGUMENT" | "NOT_FOUND" | "CONFLICT" | "EXHAUSTED" | "UNAVAILABLE" | "INTERNAL";

/** Every code, for exhaustive tables and property tests. */
export const ERROR_CODES: readonly ErrorCode[] = [
  "INVALID_ARGUMENT",
  "NOT_FOUND",
  "CONFLICT",
  "EXHAUSTED",
  "UNAVAILABLE",
  "INTERNAL",
];

/**
 * The one error type tsnet throws. Its message is what the Docker user sees after `Method: `, so it names the
 * call, the field and the value.
 *
 * @example
 * throw new TsnetError("INVALID_ARGUMENT", 'RequestPool: Pool "10.1.0.0/33" is not an IPv4 CIDR');
 */
export class TsnetError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TsnetError";
    this.code = code;
  }
}

/** Works across two copies of @tsnet/protocol in one tree, where `instanceof` does not. */
export function isTsnetError(value: unknown): value is TsnetError {
  return (
    value instanceof Error && value.name === "TsnetError" && typeof (value as { code?: unknown }).code === "string"
  );
}

/** Wraps anything thrown into a TsnetError: a TsnetError passes through, anything else becomes INTERNAL with `cause`. */
export function toTsnetError(thrown: unknown): TsnetError {
  if (isTsnetError(thrown)) return thrown;
  const message = thrown instanceof Error ? thrown.message : String(thrown);
  return new TsnetError("INTERNAL", message, { cause: thrown });
}

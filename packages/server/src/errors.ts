/**
 * The one mapping from TsnetError codes to HTTP statuses (STYLE §3), and the failure body Docker reads.
 * Statuses follow gRPC's HTTP mapping. Docker only distinguishes 200, 404 (tolerated on Program/Revoke) and the rest.
 */
import { type ErrorCode, isTsnetError, TsnetError } from "@tsnet/protocol";

/** HTTP status per error code. A new code will not compile until it has one. */
export const STATUS: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  EXHAUSTED: 429,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

/**
 * Anything thrown becomes a TsnetError: a TsnetError passes through, anything else is INTERNAL with `cause` kept
 * (its message is still shown, as it is the only diagnosis Docker users get).
 */
export function asTsnetError(thrown: unknown): TsnetError {
  if (isTsnetError(thrown)) return thrown;
  const message = thrown instanceof Error ? thrown.message : String(thrown);
  return new TsnetError("INTERNAL", message || "internal error", { cause: thrown });
}

/**
 * The failure body: NetworkDriver replies are read for `Err`, IpamDriver replies for `Error` (protocol.md §1.3),
 * so both carry the message.
 */
export function errorBody(message: string): string {
  return JSON.stringify({ Err: message, Error: message });
}

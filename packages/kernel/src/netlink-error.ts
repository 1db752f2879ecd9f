import { type ErrorCode, TsnetError } from "@tsnet/protocol";

const BY_ERRNO: Record<string, ErrorCode> = {
  EEXIST: "CONFLICT",
  ENOTEMPTY: "CONFLICT",
  EADDRINUSE: "CONFLICT",
  ENOENT: "NOT_FOUND",
  ENODEV: "NOT_FOUND",
  ESRCH: "NOT_FOUND",
  EADDRNOTAVAIL: "NOT_FOUND",
  EBUSY: "UNAVAILABLE",
  EAGAIN: "UNAVAILABLE",
  ENOBUFS: "UNAVAILABLE",
  EINVAL: "INVALID_ARGUMENT",
  ERANGE: "INVALID_ARGUMENT",
  EOPNOTSUPP: "INVALID_ARGUMENT",
  EAFNOSUPPORT: "INVALID_ARGUMENT",
};

/** The errno name the `netlink` package put in its message ("Request rejected: EEXIST"), or undefined. */
export function netlinkErrno(error: unknown): string | undefined {
  return /Request rejected: (E[A-Z0-9]+)/.exec(String(error))?.[1];
}

/**
 * Wraps an error thrown by the `netlink` package into a TsnetError; a TsnetError passes through unchanged.
 * EEXIST → CONFLICT, ENOENT/ENODEV → NOT_FOUND, EBUSY → UNAVAILABLE, EINVAL/ERANGE → INVALID_ARGUMENT, else INTERNAL.
 * The message is `${action}: ${errno}`; the original error is kept as `cause`.
 *
 * @example
 * await socket.newLink(...).catch((e) => { throw fromNetlink(e, 'add bridge "br0"'); });
 */
export function fromNetlink(error: unknown, action: string): TsnetError {
  if (error instanceof TsnetError) return error;
  const errno = netlinkErrno(error);
  if (errno === undefined) {
    const detail = error instanceof Error ? error.message : String(error);
    return new TsnetError("INTERNAL", `${action}: ${detail}`, { cause: error });
  }
  return new TsnetError(BY_ERRNO[errno] ?? "INTERNAL", `${action}: ${errno}`, { cause: error });
}

/**
 * Races `work` against `signal`: rejects with UNAVAILABLE when the signal aborts first (or was aborted before
 * the start). The work itself is not cancelled (the kernel always answers; the late answer is dropped).
 */
export function withSignal<T>(work: Promise<T>, signal: AbortSignal, what: string): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(new TsnetError("UNAVAILABLE", `${what}: aborted before start`, { cause: signal.reason }));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () =>
      reject(new TsnetError("UNAVAILABLE", `${what}: timed out or cancelled`, { cause: signal.reason }));
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** Default deadline of one kernel request when the caller passes no signal. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;

/** The caller's signal combined with a deadline of `timeoutMs`. */
export function deadline(signal: AbortSignal | undefined, timeoutMs: number = DEFAULT_REQUEST_TIMEOUT_MS): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
}

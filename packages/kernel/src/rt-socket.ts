import { TsnetError } from "@tsnet/protocol";
import { createRtNetlink, type RtNetlinkSocket } from "netlink";
import { DEFAULT_REQUEST_TIMEOUT_MS, deadline, fromNetlink, withSignal } from "./netlink-error.js";
import { inNamespace } from "./setns.js";

/** Waiting requests per socket past which new ones fail with UNAVAILABLE (STYLE.md §6: every queue is bounded). */
const MAX_WAITING = 10_000;

interface Waiter {
  isDump: boolean;
  go: () => void;
}

/**
 * One rtnetlink socket plus the discipline the `netlink` package lacks: a deadline per request and a gate.
 * The gate exists because the kernel produces a dump's later parts only as we read, so the ACK of a request
 * sent meanwhile lands between two parts, and `netlink` 0.3.0 then cuts the dump short
 * ("Multipart message not terminated properly"); a second concurrent dump gets EBUSY. So a dump runs alone,
 * while plain requests (one reply each) run side by side.
 */
export class RtSocket {
  readonly rt: RtNetlinkSocket;
  readonly timeoutMs: number;
  /** The namespace this socket lives in; undefined for the process's own. */
  readonly namespacePath: string | undefined;
  private active = 0;
  private dumping = false;
  private readonly waiting: Waiter[] = [];

  private constructor(rt: RtNetlinkSocket, timeoutMs: number, namespacePath: string | undefined) {
    this.rt = rt;
    this.timeoutMs = timeoutMs;
    this.namespacePath = namespacePath;
  }

  /** A socket in the current namespace, or in the one at `namespacePath`. */
  static open(namespacePath?: string, timeoutMs: number = DEFAULT_REQUEST_TIMEOUT_MS): RtSocket {
    const rt = namespacePath === undefined ? createRtNetlink() : inNamespace(namespacePath, () => createRtNetlink());
    // An 'error' event without a listener would crash the process (e.g. ENOBUFS); pending requests fail by
    // their deadline instead.
    rt.socket.on("error", () => {});
    return new RtSocket(rt, timeoutMs, namespacePath);
  }

  /**
   * Runs one kernel request under the gate and a deadline; netlink errors become TsnetErrors named `what`.
   * An already aborted signal fails with UNAVAILABLE before anything is sent.
   */
  async request<T>(what: string, signal: AbortSignal | undefined, isDump: boolean, work: () => Promise<T>): Promise<T> {
    const bounded = deadline(signal, this.timeoutMs);
    if (bounded.aborted)
      throw new TsnetError("UNAVAILABLE", `${what}: aborted before start`, { cause: bounded.reason });
    const acquired = this.acquire(isDump);
    try {
      await withSignal(acquired, bounded, what);
    } catch (error) {
      // Timed out while queued: give the slot back whenever it arrives.
      acquired.then(
        () => this.release(isDump),
        () => {},
      );
      throw error;
    }
    try {
      return await withSignal(work(), bounded, what).catch((error: unknown) => {
        throw fromNetlink(error, what);
      });
    } finally {
      this.release(isDump);
    }
  }

  /** Waits (up to one request deadline) for requests in flight, then closes the socket. */
  async close(): Promise<void> {
    const until = Date.now() + this.timeoutMs;
    while ((this.active > 0 || this.dumping) && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    this.rt.socket.close();
  }

  private acquire(isDump: boolean): Promise<void> {
    if (this.waiting.length === 0 && this.canGo(isDump)) {
      this.take(isDump);
      return Promise.resolve();
    }
    if (this.waiting.length >= MAX_WAITING) {
      return Promise.reject(new TsnetError("UNAVAILABLE", `netlink socket: ${MAX_WAITING} requests already waiting`));
    }
    return new Promise<void>((resolve) => this.waiting.push({ isDump, go: resolve }));
  }

  private canGo(isDump: boolean): boolean {
    return isDump ? this.active === 0 && !this.dumping : !this.dumping;
  }

  private take(isDump: boolean): void {
    if (isDump) this.dumping = true;
    else this.active++;
  }

  private release(isDump: boolean): void {
    if (isDump) this.dumping = false;
    else this.active--;
    while (this.waiting.length > 0) {
      const next = this.waiting[0] as Waiter;
      if (!this.canGo(next.isDump)) break;
      this.waiting.shift();
      this.take(next.isDump);
      next.go();
    }
  }
}

import { TsnetError } from "@tsnet/protocol";
import type { Store, StoredValue, Transaction } from "./store.js";

/**
 * Wraps a Store and makes chosen transactions fail as a failed commit would: nothing they wrote is kept and the
 * promise rejects (after a macrotask, like a real commit), or `transactionSync` throws. For testing callers' undo
 * paths.
 *
 * @example
 * const store = new FailingStore(new MemoryStore());
 * store.failNext(); // the next transaction rejects with UNAVAILABLE
 */
export class FailingStore implements Store {
  readonly inner: Store;
  #failures: Array<Error> = [];
  #predicate: ((writes: ReadonlyMap<string, StoredValue | undefined>) => boolean) | undefined;
  /** How many transactions were made to fail so far. */
  failed = 0;
  /** Present when the inner store has it; a chosen failure then throws at once, as a failed write(2) would. */
  readonly transactionSync?: <R>(work: (tx: Transaction) => R) => R;

  constructor(inner: Store) {
    this.inner = inner;
    const sync = inner.transactionSync?.bind(inner);
    if (sync !== undefined) {
      this.transactionSync = <R>(work: (tx: Transaction) => R): R => {
        const staged = this.#stage(work);
        if (staged === undefined) return sync(work);
        if (staged.failure !== undefined) throw staged.failure;
        return sync((tx) => staged.commit(tx));
      };
    }
  }

  /** The next `count` transactions fail with `error` (default: TsnetError UNAVAILABLE "injected commit failure"). */
  failNext(count = 1, error?: Error): void {
    for (let i = 0; i < count; i++) {
      this.#failures.push(error ?? new TsnetError("UNAVAILABLE", "store commit failed: injected commit failure"));
    }
  }

  /** Every transaction whose writes (key → value, undefined for a delete) match fails, until cleared with undefined. */
  failWhen(predicate: ((writes: ReadonlyMap<string, StoredValue | undefined>) => boolean) | undefined): void {
    this.#predicate = predicate;
  }

  get<T extends StoredValue>(key: string): T | undefined {
    return this.inner.get<T>(key);
  }

  list<T extends StoredValue>(prefix: string): Array<[key: string, value: T]> {
    return this.inner.list<T>(prefix);
  }

  scan<T extends StoredValue>(prefix: string): Iterable<[key: string, value: T]> {
    return this.inner.scan?.<T>(prefix) ?? this.inner.list<T>(prefix);
  }

  async transaction<R>(work: (tx: Transaction) => R, signal?: AbortSignal): Promise<R> {
    const staged = this.#stage(work);
    if (staged === undefined) return this.inner.transaction(work, signal);
    if (staged.failure !== undefined) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      throw staged.failure;
    }
    return this.inner.transaction((tx) => staged.commit(tx), signal);
  }

  /**
   * Undefined when no failure is set up (the caller commits `work` as it is). Otherwise runs `work` on a scratch
   * overlay, so it sees its own writes, and returns the failure chosen for it, or how to commit its writes.
   */
  #stage<R>(work: (tx: Transaction) => R): { failure?: Error; commit: (tx: Transaction) => R } | undefined {
    const queued = this.#failures.shift();
    if (queued === undefined && this.#predicate === undefined) return undefined;
    const writes = new Map<string, StoredValue | undefined>();
    const read = (key: string): StoredValue | undefined => (writes.has(key) ? writes.get(key) : this.inner.get(key));
    const scratch: Transaction = {
      get: <T extends StoredValue>(key: string) => read(key) as T | undefined,
      list: <T extends StoredValue>(prefix: string) => {
        const keys = new Set([...this.inner.list(prefix).map(([key]) => key), ...writes.keys()]);
        return [...keys]
          .filter((key) => key.startsWith(prefix) && read(key) !== undefined)
          .sort()
          .map((key): [string, T] => [key, read(key) as T]);
      },
      put: (key, value) => {
        writes.set(key, structuredClone(value));
      },
      delete: (key) => {
        writes.set(key, undefined);
      },
    };
    const result = work(scratch);
    const commit = (tx: Transaction): R => {
      for (const [key, value] of writes) {
        if (value === undefined) tx.delete(key);
        else tx.put(key, value);
      }
      return result;
    };
    const failure = queued ?? (this.#predicate?.(writes) ? injected() : undefined);
    if (failure === undefined) return { commit };
    this.failed++;
    return { failure, commit };
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

function injected(): TsnetError {
  return new TsnetError("UNAVAILABLE", "store commit failed: injected commit failure");
}

/** JSON-serialisable values only: stores keep them as structured data, not class instances. */
export type StoredValue = null | boolean | number | string | StoredValue[] | { [key: string]: StoredValue | undefined };

/** Reads and writes inside one transaction. Reads see the transaction's own earlier writes. */
export interface Transaction {
  get<T extends StoredValue>(key: string): T | undefined;
  /** Every key that starts with `prefix`, in key order. */
  list<T extends StoredValue>(prefix: string): Array<[key: string, value: T]>;
  put(key: string, value: StoredValue): void;
  /** Deleting an absent key is a no-op. */
  delete(key: string): void;
}

/**
 * A transactional key/value store. `transaction` runs `work` synchronously against a consistent view, and
 * resolves only once its writes are durable (fsync'd); concurrent transactions share one commit (group commit).
 * If `work` throws, nothing it wrote is kept and the promise rejects with that error.
 * Reads outside a transaction see the last committed state.
 */
export interface Store {
  get<T extends StoredValue>(key: string): T | undefined;
  list<T extends StoredValue>(prefix: string): Array<[key: string, value: T]>;
  /**
   * Like `list`, but lazily: for loading large prefixes (a million addresses) without holding them all at once.
   * Optional: callers fall back to `list` when a store lacks it. Do not write while iterating.
   */
  scan?<T extends StoredValue>(prefix: string): Iterable<[key: string, value: T]>;
  transaction<R>(work: (tx: Transaction) => R, signal?: AbortSignal): Promise<R>;
  /**
   * Commits like `transaction`, but returns `work`'s result directly and throws what `work` or the commit throws:
   * for stores whose commit waits for nothing (in memory; the journal's one write(2)). Absent on stores that wait
   * for a disk flush. A caller on a hot path uses it when present and saves the promise hop.
   */
  transactionSync?<R>(work: (tx: Transaction) => R): R;
  close(): Promise<void>;
}

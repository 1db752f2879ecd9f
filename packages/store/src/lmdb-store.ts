import { mkdir } from "node:fs/promises";
import { type Logger, silentLogger, TsnetError } from "@tsnet/protocol";
import { open, type RootDatabase } from "lmdb";
import { lockStateDirectory, type StateLock } from "./state-lock.js";
import type { Store, StoredValue, Transaction } from "./store.js";

/** Options of {@link openLmdbStore}. */
export interface LmdbStoreOptions {
  /** The daemon's state directory (`--state-dir`); created (mode 0700) when missing. */
  directory: string;
  logger?: Logger;
}

/**
 * Opens the durable store in `directory`, locking it for this process.
 *
 * @throws TsnetError CONFLICT when another process holds the directory; UNAVAILABLE when lmdb cannot open it.
 * @example
 * const store = await openLmdbStore({ directory: "/var/lib/tsnet" });
 * await store.transaction((tx) => tx.put("greeting", "hello"));
 * await store.close();
 */
export async function openLmdbStore(options: LmdbStoreOptions): Promise<LmdbStore> {
  await mkdir(options.directory, { recursive: true, mode: 0o700 });
  const lock = await lockStateDirectory(options.directory);
  try {
    // noSync/noMetaSync stay off: every commit is fsync'd. overlappingSync (lmdb's default on Linux) is turned off:
    // with it a write promise resolves when the batch is committed and visible, before its flush; without it
    // lmdb syncs inside the commit, so the promise we await means durable. Same throughput here (bench).
    const db = open<StoredValue, string>({
      path: options.directory,
      encoding: "msgpack",
      noSync: false,
      overlappingSync: false,
    });
    return new LmdbStore(db, lock, options.logger ?? silentLogger);
  } catch (error) {
    await lock.release();
    throw new TsnetError("UNAVAILABLE", `state dir "${options.directory}": cannot open store: ${String(error)}`, {
      cause: error,
    });
  }
}

/**
 * A Store in lmdb. Transactions run as lmdb child transactions inside lmdb's batched async write transaction: all
 * transactions started in one event turn commit together and share one fsync (group commit), and one that
 * throws is aborted alone. Use {@link openLmdbStore} to create one.
 */
export class LmdbStore implements Store {
  readonly #db: RootDatabase<StoredValue, string>;
  readonly #lock: StateLock;
  readonly #log: Logger;
  #closed = false;
  #transactions = 0;
  #commits = 0;
  #lastTxnId = -1;

  /** @internal Use {@link openLmdbStore}. */
  constructor(db: RootDatabase<StoredValue, string>, lock: StateLock, logger: Logger) {
    this.#db = db;
    this.#lock = lock;
    this.#log = logger;
  }

  /** The directory this store holds locked. */
  get directory(): string {
    return this.#lock.directory;
  }

  /**
   * Transactions run and lmdb write transactions (commits, each one fsync'd batch) they ran in, since open.
   * `commits` well below `transactions` under load is group commit at work.
   */
  stats(): { transactions: number; commits: number } {
    return { transactions: this.#transactions, commits: this.#commits };
  }

  get<T extends StoredValue>(key: string): T | undefined {
    this.#assertOpen();
    return this.#db.get(key) as T | undefined;
  }

  list<T extends StoredValue>(prefix: string): Array<[key: string, value: T]> {
    this.#assertOpen();
    return listPrefix<T>(this.#db, prefix);
  }

  *scan<T extends StoredValue>(prefix: string): Generator<[key: string, value: T]> {
    this.#assertOpen();
    for (const { key, value } of this.#db.getRange({ start: prefix })) {
      if (typeof key !== "string" || !key.startsWith(prefix)) return;
      yield [key, value as T];
    }
  }

  async transaction<R>(work: (tx: Transaction) => R, signal?: AbortSignal): Promise<R> {
    this.#assertOpen();
    if (signal?.aborted) throw new TsnetError("UNAVAILABLE", "store transaction: aborted before start");
    const db = this.#db;
    const tx = new LmdbTransaction(db);
    let threw = false;
    const committed = db.childTransaction(() => {
      const txnId = db.getWriteTxnId();
      if (txnId !== this.#lastTxnId) {
        this.#lastTxnId = txnId;
        this.#commits++;
      }
      this.#transactions++;
      try {
        return work(tx);
      } catch (error) {
        threw = true;
        throw error;
      } finally {
        tx.open = false;
      }
    }) as Promise<R>;
    let result: R;
    try {
      result = await committed;
    } catch (error) {
      if (threw) throw error;
      this.#log.error({ err: error }, "store commit failed");
      throw new TsnetError("UNAVAILABLE", `store commit failed: ${String(error)}`, { cause: error });
    }
    return result;
  }

  /** Waits for pending commits, closes lmdb and releases the directory lock. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#db.close();
    await this.#lock.release();
  }

  #assertOpen(): void {
    if (this.#closed) throw new TsnetError("UNAVAILABLE", "store is closed");
  }
}

/** The view `work` gets: lmdb calls inside a child transaction run against the write transaction. */
class LmdbTransaction implements Transaction {
  readonly #db: RootDatabase<StoredValue, string>;
  open = true;

  constructor(db: RootDatabase<StoredValue, string>) {
    this.#db = db;
  }

  get<T extends StoredValue>(key: string): T | undefined {
    this.#guard();
    return this.#db.get(key) as T | undefined;
  }

  list<T extends StoredValue>(prefix: string): Array<[key: string, value: T]> {
    this.#guard();
    return listPrefix<T>(this.#db, prefix);
  }

  put(key: string, value: StoredValue): void {
    this.#guard();
    this.#db.put(key, value);
  }

  delete(key: string): void {
    this.#guard();
    this.#db.remove(key);
  }

  #guard(): void {
    if (!this.open) throw new TsnetError("INTERNAL", "store transaction used after its work returned");
  }
}

function listPrefix<T extends StoredValue>(db: RootDatabase<StoredValue, string>, prefix: string): Array<[string, T]> {
  const entries: Array<[string, T]> = [];
  // Keys are strings in lmdb's ordered-binary encoding (UTF-8 byte order): a prefix's keys are contiguous.
  for (const { key, value } of db.getRange({ start: prefix })) {
    if (typeof key !== "string" || !key.startsWith(prefix)) break;
    entries.push([key, value as T]);
  }
  return entries;
}

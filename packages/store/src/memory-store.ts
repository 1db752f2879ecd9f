import { TsnetError } from "@tsnet/protocol";
import type { Store, StoredValue, Transaction } from "./store.js";

function copy<T extends StoredValue>(value: T | undefined): T | undefined {
  return value === undefined ? undefined : structuredClone(value);
}

/**
 * A Store held in a Map: the same transaction semantics as the durable store, nothing on disk.
 * For unit tests and for embedders that want no persistence.
 */
export class MemoryStore implements Store {
  readonly #data = new Map<string, StoredValue>();
  #closed = false;

  get<T extends StoredValue>(key: string): T | undefined {
    return copy(this.#data.get(key) as T | undefined);
  }

  list<T extends StoredValue>(prefix: string): Array<[key: string, value: T]> {
    return [...this.#data.keys()]
      .filter((key) => key.startsWith(prefix))
      .sort()
      .map((key) => [key, copy(this.#data.get(key) as T) as T]);
  }

  async transaction<R>(work: (tx: Transaction) => R, signal?: AbortSignal): Promise<R> {
    if (this.#closed) throw new TsnetError("UNAVAILABLE", "store is closed");
    if (signal?.aborted) throw new TsnetError("UNAVAILABLE", "store transaction: aborted before start");
    const writes = new Map<string, StoredValue | undefined>();
    const read = (key: string): StoredValue | undefined => (writes.has(key) ? writes.get(key) : this.#data.get(key));
    const tx: Transaction = {
      get: <T extends StoredValue>(key: string) => copy(read(key) as T | undefined),
      list: <T extends StoredValue>(prefix: string) => {
        const keys = new Set([...this.#data.keys(), ...writes.keys()]);
        return [...keys]
          .filter((key) => key.startsWith(prefix) && read(key) !== undefined)
          .sort()
          .map((key): [string, T] => [key, copy(read(key) as T) as T]);
      },
      put: (key, value) => {
        writes.set(key, structuredClone(value));
      },
      delete: (key) => {
        writes.set(key, undefined);
      },
    };
    const result = work(tx);
    for (const [key, value] of writes) {
      if (value === undefined) this.#data.delete(key);
      else this.#data.set(key, value);
    }
    return result;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

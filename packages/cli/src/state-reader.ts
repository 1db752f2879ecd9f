/**
 * A read-only view of the store in the daemon's state dir, opened beside the daemon's own LmdbStore in the same
 * process (lmdb shares one environment per path in a process; readers never block the writer). Used by the admin
 * socket only when composeDrivers does not hand out its store.
 */
import type { Store, StoredValue } from "@tsnet/store";
import { open } from "lmdb";

/** The read part of a Store, plus close. */
export interface StoreReader extends Pick<Store, "list"> {
  close(): Promise<void>;
}

/** Opens `directory`'s lmdb store read-only, with the encoding LmdbStore writes (msgpack, string keys). */
export function openStoreReader(directory: string): StoreReader {
  const db = open<StoredValue, string>({ path: directory, encoding: "msgpack", readOnly: true });
  return {
    list<T extends StoredValue>(prefix: string): Array<[key: string, value: T]> {
      const entries: Array<[string, T]> = [];
      for (const { key, value } of db.getRange({ start: prefix })) {
        if (typeof key !== "string" || !key.startsWith(prefix)) break;
        entries.push([key, value as T]);
      }
      return entries;
    },
    async close() {
      await db.close();
    },
  };
}

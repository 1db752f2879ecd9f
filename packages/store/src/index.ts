export {
  BOOT_ID_FILE,
  JOURNAL_FILE,
  JournalStore,
  type JournalStoreOptions,
  openJournalStore,
} from "./journal-store.js";
export { LmdbStore, type LmdbStoreOptions, openLmdbStore } from "./lmdb-store.js";
export { MemoryStore } from "./memory-store.js";
export { lockStateDirectory, PID_FILE, type StateLock } from "./state-lock.js";
export * from "./store.js";

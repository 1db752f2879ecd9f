export { FailingStore } from "./failing-store.js";
export { MemoryStore } from "./memory-store.js";

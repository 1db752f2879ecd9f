/**
 * The driver's view of the kernel package's batched link reaper: DeleteEndpoint queues and answers at once,
 * a full queue turns into deleting inline (slower, never lost), and `settle` makes sure a name about to be
 * created again is not deleted later by a deletion still queued for its previous owner.
 */
import type { LinkReaper, Links } from "@tsnet/kernel";
import type { Logger } from "@tsnet/protocol";
import { cleanupSignal } from "./records.js";

export interface Reaping {
  /** Queues `name` for deletion; when the reaper is full, deletes it before resolving. Never throws. */
  reap(name: string): Promise<void>;
  /** If `name` was queued and may not be deleted yet, waits until the reaper has drained. */
  settle(name: string): Promise<void>;
  drain(): Promise<void>;
  readonly pending: number;
}

export function createReaping(reaper: LinkReaper, links: Links, log: Logger): Reaping {
  const queued = new Set<string>();
  return {
    async reap(name) {
      if (reaper.pending === 0) queued.clear();
      try {
        reaper.enqueue(name);
        queued.add(name);
      } catch (error) {
        log.warn({ err: error, link: name }, "link reaper full, deleting inline");
        await links
          .delete(name, cleanupSignal())
          .catch((failure: unknown) => log.error({ err: failure, link: name }, "cannot delete link"));
      }
    },
    async settle(name) {
      if (!queued.has(name)) return;
      const before = [...queued];
      await reaper.drain();
      for (const done of before) queued.delete(done);
    },
    drain: () => reaper.drain(),
    get pending() {
      return reaper.pending;
    },
  };
}

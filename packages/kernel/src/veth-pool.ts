import { randomBytes } from "node:crypto";
import { type Logger, silentLogger } from "@tsnet/protocol";
import type { NetlinkLinks } from "./netlink-links.js";

export interface VethPoolOptions {
  /** Pairs kept ready per attachment (default 4). */
  size?: number;
  /** Prefix of a pair's host end (default "tsvq-"); it keeps this name once taken. */
  hostPrefix?: string;
  /** Prefix of the peer (container) end, which keeps its name too (default "tsvr-"). */
  peerPrefix?: string;
  /** Quiet time after the last take before the pool refills, in ms (default 20). */
  refillDelayMs?: number;
  /** Latest start of a refill after the first take, in ms, should takes never pause (default 200). */
  maxRefillDelayMs?: number;
  logger?: Logger;
}

/** Where and how a pair's host end is attached: what every pair made for it already has. */
export interface VethAttachment {
  /** MTU of both ends. */
  mtu: number;
  /** Bridge the host end is a port of. */
  master?: string;
  /** Hairpin mode on that port (with `master`). */
  hairpin?: boolean;
}

/** A pair handed out by the pool: the host end, attached and up, and the peer, down, for the container. */
export interface PooledVeth {
  host: string;
  peer: string;
}

/**
 * Veth pairs made ahead of time, already attached: both ends at the MTU, the host end a port of its bridge (hairpin
 * as asked) and up. Taking a ready pair sends nothing to the kernel, so CreateEndpoint does no kernel work at all
 * when one is ready. The host end stays NO-CARRIER (its port disabled) until the peer comes up in a container.
 * Docker renames the peer and sets its MAC inside the sandbox (libnetwork osl), so both ends keep their pool names.
 * One list per attachment: a bridge driver keeps a few pairs per network.
 */
export interface VethPool {
  /**
   * Hands out a ready pair made for `attachment`, with no kernel request; with none ready, makes one now (one
   * RTM_NEWLINK, plus one for hairpin). Either way the list refills in the background: after a quiet moment, at
   * the latest 200 ms after the first take, at once when it is empty.
   * Throws NOT_FOUND (no such bridge), UNAVAILABLE (deadline) when a pair must be made now.
   */
  take(attachment: VethAttachment, signal?: AbortSignal): Promise<PooledVeth>;
  /**
   * The ready pair `take` would hand out, returned directly, or undefined when none is ready (then `take` makes
   * one). Schedules the refill as `take` does.
   */
  takeReady(attachment: VethAttachment): PooledVeth | undefined;
  /** Makes pairs for `attachment` until `size` are ready. */
  fill(attachment: VethAttachment, signal?: AbortSignal): Promise<void>;
  /** Deletes the ready pairs attached to `master` and forgets them (before the bridge goes). */
  discard(master: string): Promise<void>;
  /** True for names the pool made (host ends and peers), so a reconciler knows them as its own. */
  owns(name: string): boolean;
  /** Pairs ready now, per attachment key (`mtu/master/hairpin`). */
  readonly ready: ReadonlyMap<string, number>;
  /** Stops refilling and deletes the pairs still ready. */
  close(): Promise<void>;
}

interface Shelf {
  attachment: VethAttachment;
  pairs: PooledVeth[];
  filling: Promise<void> | undefined;
  timer: NodeJS.Timeout | undefined;
  /** When the first take since the last refill came (performance.now()), for the refill's latest start. */
  waitingSince: number | undefined;
}

function keyOf(attachment: VethAttachment): string {
  return `${attachment.mtu}/${attachment.master ?? ""}/${attachment.hairpin === true ? "hairpin" : ""}`;
}

export function createVethPool(links: NetlinkLinks, options: VethPoolOptions = {}): VethPool {
  const size = options.size ?? 4;
  const hostPrefix = options.hostPrefix ?? "tsvq-";
  const peerPrefix = options.peerPrefix ?? "tsvr-";
  const refillDelayMs = options.refillDelayMs ?? 20;
  const maxRefillDelayMs = options.maxRefillDelayMs ?? 200;
  const log = options.logger ?? silentLogger;
  const shelves = new Map<string, Shelf>();
  let closed = false;

  const shelfOf = (attachment: VethAttachment): Shelf => {
    const key = keyOf(attachment);
    let shelf = shelves.get(key);
    if (shelf === undefined) {
      shelf = {
        attachment: { ...attachment },
        pairs: [],
        filling: undefined,
        timer: undefined,
        waitingSince: undefined,
      };
      shelves.set(key, shelf);
    }
    return shelf;
  };

  async function makePair(attachment: VethAttachment, signal?: AbortSignal): Promise<PooledVeth> {
    const id = randomBytes(5).toString("hex");
    const pair = { host: `${hostPrefix}${id}`.slice(0, 15), peer: `${peerPrefix}${id}`.slice(0, 15) };
    await links.addVethPair(
      pair.host,
      pair.peer,
      {
        mtu: attachment.mtu,
        up: true,
        ...(attachment.master === undefined ? {} : { master: attachment.master }),
        ...(attachment.hairpin === true ? { hairpin: true } : {}),
      },
      signal,
    );
    return pair;
  }

  function fillShelf(shelf: Shelf, signal?: AbortSignal): Promise<void> {
    if (shelf.filling !== undefined) return shelf.filling;
    const key = keyOf(shelf.attachment);
    const work = (async () => {
      // A discarded shelf (its bridge is going) stops growing; a pair made meanwhile is deleted, not shelved.
      while (!closed && shelves.get(key) === shelf && shelf.pairs.length < size) {
        const pair = await makePair(shelf.attachment, signal);
        if (closed || shelves.get(key) !== shelf) {
          await links.deleteMany([pair.host]);
          return;
        }
        shelf.pairs.push(pair);
      }
    })().finally(() => {
      shelf.filling = undefined;
    });
    shelf.filling = work;
    return work;
  }

  function refill(shelf: Shelf): void {
    clearTimeout(shelf.timer);
    shelf.timer = undefined;
    shelf.waitingSince = undefined;
    fillShelf(shelf).catch((error: unknown) =>
      log.warn({ err: error, attachment: keyOf(shelf.attachment) }, "veth pool refill failed"),
    );
  }

  /**
   * Refills once takes pause for refillDelayMs (making pairs then does not compete with the containers being
   * started), but no later than maxRefillDelayMs after the first take (a long burst never pauses), and at once
   * when the shelf is empty (takes already make their pairs on the spot).
   */
  function scheduleRefill(shelf: Shelf): void {
    if (closed) return;
    const now = performance.now();
    shelf.waitingSince ??= now;
    if (shelf.pairs.length === 0) {
      refill(shelf);
      return;
    }
    clearTimeout(shelf.timer);
    const latest = shelf.waitingSince + maxRefillDelayMs - now;
    shelf.timer = setTimeout(() => refill(shelf), Math.max(0, Math.min(refillDelayMs, latest)));
    shelf.timer.unref();
  }

  async function drop(shelf: Shelf): Promise<void> {
    clearTimeout(shelf.timer);
    shelves.delete(keyOf(shelf.attachment));
    await shelf.filling?.catch(() => {});
    const hosts = shelf.pairs.map((pair) => pair.host);
    shelf.pairs = [];
    await links.deleteMany(hosts);
  }

  return {
    takeReady(attachment) {
      const shelf = shelfOf(attachment);
      const pair = shelf.pairs.shift();
      scheduleRefill(shelf);
      return pair;
    },
    async take(attachment, signal) {
      return this.takeReady(attachment) ?? makePair(attachment, signal);
    },
    fill: (attachment, signal) => fillShelf(shelfOf(attachment), signal),
    async discard(master) {
      await Promise.all([...shelves.values()].filter((shelf) => shelf.attachment.master === master).map(drop));
    },
    owns: (name) => name.startsWith(hostPrefix) || name.startsWith(peerPrefix),
    get ready() {
      return new Map([...shelves].map(([key, shelf]) => [key, shelf.pairs.length]));
    },
    async close() {
      closed = true;
      await Promise.all([...shelves.values()].map(drop));
    },
  };
}

import { randomBytes } from "node:crypto";
import { type Logger, silentLogger, TsnetError } from "@tsnet/protocol";
import type { NetlinkLinks } from "./netlink-links.js";

export interface VethPoolOptions {
  /** Pairs kept ready per MTU (default 8). */
  size?: number;
  /** Prefix of a ready pair's host end before it is claimed (default "tsvq-"). */
  stagingPrefix?: string;
  /** Prefix of the peer (container) end, which keeps its name (default "tsvr-"). */
  peerPrefix?: string;
  /** Quiet time after the last take before the pool refills, in ms (default 20). */
  refillDelayMs?: number;
  logger?: Logger;
}

/**
 * Veth pairs created ahead of time, so that CreateEndpoint costs one RTM_SETLINK (rename + master + up,
 * measured 0.31 ms median) instead of one RTM_NEWLINK (0.64 ms). Docker renames the container end and sets its
 * MAC itself inside the sandbox (libnetwork osl), so the peer keeps its pool name; only the MTU must be right
 * at creation, hence one pool per MTU.
 */
export interface VethPool {
  /**
   * Claims a ready pair for `mtu`: its host end becomes `host`, on `master`, up (one request). Returns the
   * peer's name. With no pair ready, creates one (one RTM_NEWLINK). If `host` already exists as a veth (a
   * replayed CreateEndpoint) its peer is returned. Throws CONFLICT (name held by another kind), NOT_FOUND (no
   * such bridge), UNAVAILABLE (deadline).
   */
  take(
    host: string,
    options: { mtu: number; master?: string; up?: boolean; hairpin?: boolean },
    signal?: AbortSignal,
  ): Promise<string>;
  /** True for names the pool made (staging host ends and peers), so a reconciler knows them as ours. */
  owns(name: string): boolean;
  /** Creates pairs for `mtu` until `size` are ready. */
  fill(mtu: number, signal?: AbortSignal): Promise<void>;
  /** Pairs ready now, per MTU. */
  readonly ready: ReadonlyMap<number, number>;
  /** Stops refilling and deletes the pairs still ready. */
  close(): Promise<void>;
}

interface ReadyPair {
  index: number;
  staging: string;
  peer: string;
}

export function createVethPool(links: NetlinkLinks, options: VethPoolOptions = {}): VethPool {
  const size = options.size ?? 8;
  const stagingPrefix = options.stagingPrefix ?? "tsvq-";
  const peerPrefix = options.peerPrefix ?? "tsvr-";
  const refillDelayMs = options.refillDelayMs ?? 20;
  const log = options.logger ?? silentLogger;
  const pools = new Map<number, ReadyPair[]>();
  const filling = new Map<number, Promise<void>>();
  const timers = new Map<number, NodeJS.Timeout>();
  let closed = false;

  const readyOf = (mtu: number): ReadyPair[] => {
    let list = pools.get(mtu);
    if (list === undefined) {
      list = [];
      pools.set(mtu, list);
    }
    return list;
  };

  async function makePair(mtu: number, signal?: AbortSignal): Promise<ReadyPair> {
    const id = randomBytes(5).toString("hex");
    const staging = `${stagingPrefix}${id}`.slice(0, 15);
    const peer = `${peerPrefix}${id}`.slice(0, 15);
    await links.addVethPair(staging, peer, { mtu }, signal);
    const link = await links.get(staging, signal);
    if (link === undefined) throw new TsnetError("INTERNAL", `veth pool: "${staging}" vanished after creation`);
    return { index: link.index, staging, peer };
  }

  async function fill(mtu: number, signal?: AbortSignal): Promise<void> {
    const running = filling.get(mtu);
    if (running !== undefined) return running;
    const work = (async () => {
      const list = readyOf(mtu);
      while (!closed && list.length < size) list.push(await makePair(mtu, signal));
    })().finally(() => filling.delete(mtu));
    filling.set(mtu, work);
    return work;
  }

  function scheduleRefill(mtu: number): void {
    if (closed) return;
    clearTimeout(timers.get(mtu));
    const timer = setTimeout(() => {
      timers.delete(mtu);
      fill(mtu).catch((error: unknown) => log.warn({ err: error, mtu }, "veth pool refill failed"));
    }, refillDelayMs);
    timer.unref();
    timers.set(mtu, timer);
  }

  async function take(
    host: string,
    request: { mtu: number; master?: string; up?: boolean; hairpin?: boolean },
    signal?: AbortSignal,
  ): Promise<string> {
    const claim = {
      up: request.up === true,
      ...(request.master === undefined ? {} : { master: request.master }),
      ...(request.hairpin === true ? { hairpin: true } : {}),
    };
    const list = readyOf(request.mtu);
    scheduleRefill(request.mtu);
    for (let pair = list.shift(); pair !== undefined; pair = list.shift()) {
      try {
        await links.claim(pair.index, host, claim, signal);
        return pair.peer;
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === "NOT_FOUND" && (await links.get(pair.staging, signal)) === undefined) continue; // deleted by hand
        list.unshift(pair); // still good: the failure is about `host` or `master`
        if (code === "CONFLICT") return replayed(host, error);
        throw error;
      }
    }
    const id = randomBytes(5).toString("hex");
    const peer = `${peerPrefix}${id}`.slice(0, 15);
    try {
      await links.addVethPair(host, peer, { mtu: request.mtu, ...claim }, signal);
    } catch (error) {
      if ((error as { code?: string }).code === "CONFLICT") return replayed(host, error);
      throw error;
    }
    return peer;
  }

  async function replayed(host: string, error: unknown): Promise<string> {
    const existing = await links.get(host);
    if (existing?.kind === "veth" && existing.peer !== undefined) return existing.peer;
    throw error;
  }

  return {
    take,
    fill,
    owns: (name) => name.startsWith(stagingPrefix) || name.startsWith(peerPrefix),
    get ready() {
      return new Map([...pools].map(([mtu, list]) => [mtu, list.length]));
    },
    async close() {
      closed = true;
      for (const timer of timers.values()) clearTimeout(timer);
      await Promise.allSettled(filling.values());
      const names = [...pools.values()].flat().map((pair) => pair.staging);
      pools.clear();
      await links.deleteMany(names);
    },
  };
}

import { type Awaitable, isPromiseLike } from "@tsnet/protocol";

/**
 * Runs work for one key at a time, in arrival order; different keys run concurrently. Docker sends calls
 * for different containers at once, and retries of one call can overlap the original.
 */
export class KeyedLock {
  readonly #tails = new Map<string, Promise<unknown>>();

  /**
   * Runs `work` once every earlier `run` with the same key has settled. With nothing queued for the key, `work`
   * runs at once; if it answers directly, so does `run` (nothing can interleave with code that does not wait).
   */
  run<T>(key: string, work: () => Awaitable<T>): Awaitable<T> {
    const previous = this.#tails.get(key);
    if (previous === undefined) {
      const answer = work();
      return isPromiseLike(answer) ? this.#hold(key, Promise.resolve(answer)) : answer;
    }
    return this.#hold(key, previous.then(work, work));
  }

  /** Makes `current` the key's tail until it settles. */
  async #hold<T>(key: string, current: Promise<T>): Promise<T> {
    const tail = current.catch(() => {});
    this.#tails.set(key, tail);
    try {
      return await current;
    } finally {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }

  /** Keys with work queued or running. */
  get size(): number {
    return this.#tails.size;
  }
}

/**
 * A set of bigint slots stored as sorted, merged runs [start, end): memory grows with the number of gaps, not
 * with the address count, so a /64 (2^64 slots) with 100k serial allocations is one run.
 */
export class RunSet {
  readonly #starts: bigint[] = [];
  readonly #ends: bigint[] = [];

  /** Number of runs (for memory accounting in tests). */
  get runs(): number {
    return this.#starts.length;
  }

  /** Index of the last run starting at or before `x`, or -1. */
  #find(x: bigint): number {
    const starts = this.#starts;
    let low = 0;
    let high = starts.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if ((starts[middle] as bigint) <= x) low = middle + 1;
      else high = middle - 1;
    }
    return high;
  }

  has(x: bigint): boolean {
    const i = this.#find(x);
    return i >= 0 && x < (this.#ends[i] as bigint);
  }

  /** Adds `x`; false when it was present. */
  add(x: bigint): boolean {
    const starts = this.#starts;
    const ends = this.#ends;
    const i = this.#find(x);
    if (i >= 0 && x < (ends[i] as bigint)) return false;
    const joinsLeft = i >= 0 && ends[i] === x;
    const joinsRight = i + 1 < starts.length && starts[i + 1] === x + 1n;
    if (joinsLeft && joinsRight) {
      ends[i] = ends[i + 1] as bigint;
      starts.splice(i + 1, 1);
      ends.splice(i + 1, 1);
    } else if (joinsLeft) {
      ends[i] = x + 1n;
    } else if (joinsRight) {
      starts[i + 1] = x;
    } else {
      starts.splice(i + 1, 0, x);
      ends.splice(i + 1, 0, x + 1n);
    }
    return true;
  }

  /** Removes `x`; false when it was absent. */
  delete(x: bigint): boolean {
    const starts = this.#starts;
    const ends = this.#ends;
    const i = this.#find(x);
    if (i < 0 || x >= (ends[i] as bigint)) return false;
    const start = starts[i] as bigint;
    const end = ends[i] as bigint;
    if (start === x && end === x + 1n) {
      starts.splice(i, 1);
      ends.splice(i, 1);
    } else if (start === x) {
      starts[i] = x + 1n;
    } else if (end === x + 1n) {
      ends[i] = x;
    } else {
      ends[i] = x;
      starts.splice(i + 1, 0, x + 1n);
      ends.splice(i + 1, 0, end);
    }
    return true;
  }

  /** The lowest absent slot in [from, to), or -1n. Runs are merged, so the end of a run is always absent. */
  findClear(from: bigint, to: bigint): bigint {
    if (from >= to) return -1n;
    const i = this.#find(from);
    const x = i >= 0 && from < (this.#ends[i] as bigint) ? (this.#ends[i] as bigint) : from;
    return x < to ? x : -1n;
  }

  /** Every slot in ascending order. */
  *values(): Generator<bigint> {
    for (let i = 0; i < this.#starts.length; i++) {
      for (let x = this.#starts[i] as bigint; x < (this.#ends[i] as bigint); x++) yield x;
    }
  }
}

/**
 * A fixed-size bitmap of allocated slots in 32-bit words. Search skips full words and finds the lowest clear bit
 * of a word with clz32, so a serial fill touches each word about 33 times in all.
 */
export class Bitmap {
  readonly size: number;
  readonly #words: Uint32Array;

  constructor(size: number) {
    this.size = size;
    this.#words = new Uint32Array(Math.ceil(size / 32));
  }

  has(index: number): boolean {
    return ((this.#words[index >>> 5] as number) & (1 << (index & 31))) !== 0;
  }

  /** Sets the bit; false when it was already set. */
  set(index: number): boolean {
    const word = index >>> 5;
    const mask = 1 << (index & 31);
    const bits = this.#words[word] as number;
    if ((bits & mask) !== 0) return false;
    this.#words[word] = bits | mask;
    return true;
  }

  /** Clears the bit; false when it was already clear. */
  clear(index: number): boolean {
    const word = index >>> 5;
    const mask = 1 << (index & 31);
    const bits = this.#words[word] as number;
    if ((bits & mask) === 0) return false;
    this.#words[word] = bits & ~mask;
    return true;
  }

  /** The lowest clear index in [from, to), or -1. */
  findClear(from: number, to: number): number {
    if (from >= to) return -1;
    const words = this.#words;
    let word = from >>> 5;
    // Bits below `from` in its word count as set.
    let bits = (words[word] as number) | ((1 << (from & 31)) - 1);
    const lastWord = (to - 1) >>> 5;
    for (;;) {
      if (bits !== -1) {
        const free = ~bits & (bits + 1);
        const index = (word << 5) + 31 - Math.clz32(free);
        return index < to ? index : -1;
      }
      if (++word > lastWord) return -1;
      bits = (words[word] as number) | 0; // as int32, so a full word is -1
    }
  }

  /** Every set index in ascending order. */
  *indexes(): Generator<number> {
    const words = this.#words;
    for (let word = 0; word < words.length; word++) {
      let bits = words[word] as number;
      while (bits !== 0) {
        const low = bits & -bits;
        yield (word << 5) + 31 - Math.clz32(low);
        bits ^= low;
      }
    }
  }
}

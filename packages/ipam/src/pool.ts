import { TsnetError } from "@tsnet/protocol";
import { type Family, formatIpv4Number, formatIpv6, formatNetwork, type Network, parseAddress } from "./address.js";
import { Bitmap } from "./bitmap.js";
import { KEYS } from "./keys.js";
import { RunSet } from "./runs.js";

/** Pools up to this many addresses keep a bitmap (8 MiB at most); larger ones (IPv6 /64...) keep runs. */
export const BITMAP_LIMIT: number = 1 << 26;

/** What a pool is made of; `subPool` (Docker's `--ip-range`) lies inside `network`. */
export interface PoolSpec {
  id: string;
  space: string;
  network: Network;
  subPool?: Network | undefined;
  options: Record<string, string>;
  /** Pools larger than this use runs instead of a bitmap; for tests. */
  bitmapLimit?: number;
}

/**
 * The addresses of one pool. The network address is never handed out, nor the IPv4 broadcast address
 * (Docker reserves both, and so no address at all in an IPv4 /31 or /32). Requests without an address get the
 * lowest free one of the sub-pool (or of the pool), or, serially, the next free one after the last handed out.
 * Offsets are numbers in bitmap pools and bigints in run pools; addresses go in and out as text.
 */
export class Pool {
  readonly id: string;
  readonly space: string;
  readonly network: Network;
  readonly subPool: Network | undefined;
  readonly options: Record<string, string>;
  readonly family: Family;
  /**
   * `KEYS.address(id, "")`, built once: an allocation's key is then one concatenation, not a template of four
   * parts (fewer intermediate strings to build and flatten per allocation).
   */
  readonly addressKeyPrefix: string;
  readonly #bitmap: Bitmap | undefined;
  readonly #runs: RunSet | undefined;
  /** Offsets an explicit request may take: [min, max]. */
  readonly #min: bigint;
  readonly #max: bigint;
  /** Offsets handed out without a request: [lo, hi). */
  readonly #lo: bigint;
  readonly #hi: bigint;
  readonly #loNumber: number;
  readonly #hiNumber: number;
  readonly #baseNumber: number;
  /** No free offset in the range lies below this. */
  #hint: bigint | number;
  /** Last offset handed out serially. */
  #cursor: bigint | undefined;
  #allocated = 0;
  #inRange = 0;

  constructor(spec: PoolSpec) {
    this.id = spec.id;
    this.space = spec.space;
    this.network = spec.network;
    this.subPool = spec.subPool;
    this.options = spec.options;
    this.family = spec.network.family;
    this.addressKeyPrefix = KEYS.address(spec.id, "");
    const size = spec.network.size;
    this.#min = 1n;
    this.#max = this.family === 4 ? size - 2n : size - 1n;
    let lo = this.#min;
    let hi = this.#max + 1n;
    if (spec.subPool !== undefined) {
      const start = spec.subPool.base - spec.network.base;
      const end = start + spec.subPool.size;
      if (start > lo) lo = start;
      if (end < hi) hi = end;
    }
    if (hi < lo) hi = lo;
    this.#lo = lo;
    this.#hi = hi;
    if (size <= BigInt(spec.bitmapLimit ?? BITMAP_LIMIT)) {
      this.#bitmap = new Bitmap(Number(size));
      this.#loNumber = Number(lo);
      this.#hiNumber = Number(hi);
      this.#hint = this.#loNumber;
    } else {
      this.#runs = new RunSet();
      this.#loNumber = 0;
      this.#hiNumber = 0;
      this.#hint = lo;
    }
    this.#baseNumber = this.family === 4 ? Number(spec.network.base) : 0;
  }

  /** The pool's CIDR text, e.g. "10.99.0.0/24". */
  get cidr(): string {
    return formatNetwork(this.network);
  }

  get prefix(): number {
    return this.network.prefix;
  }

  /** True when requests without an address are handed out round-robin (`com.docker.network.ipam.serial`). */
  get serial(): boolean {
    return this.options[SERIAL_OPTION] === "true";
  }

  /** Offset of the last serial allocation, as stored. */
  get cursor(): bigint | undefined {
    return this.#cursor;
  }

  set cursor(value: bigint | undefined) {
    this.#cursor = value;
  }

  /** Addresses held, including gateway and aux addresses. */
  get allocatedCount(): bigint {
    return BigInt(this.#allocated);
  }

  /** Addresses a request without an address can still get. */
  freeCount(): bigint {
    return this.#hi - this.#lo - BigInt(this.#inRange);
  }

  /**
   * Takes the lowest free address of the range (or, `serial`, the next free one after the last handed out,
   * wrapping) and returns it as text.
   * @throws TsnetError EXHAUSTED when none is free.
   */
  allocate(serial: boolean): string {
    const bitmap = this.#bitmap;
    if (bitmap !== undefined) {
      let offset: number;
      if (serial) {
        const start = this.#cursor === undefined ? this.#loNumber : Number(this.#cursor) + 1;
        offset = bitmap.findClear(Math.max(start, this.#loNumber), this.#hiNumber);
        if (offset < 0) offset = bitmap.findClear(this.#loNumber, Math.min(start, this.#hiNumber));
      } else {
        offset = bitmap.findClear(this.#hint as number, this.#hiNumber);
      }
      if (offset < 0) throw this.#exhausted();
      bitmap.set(offset);
      if (!serial) this.#hint = offset + 1;
      else this.#cursor = BigInt(offset);
      this.#allocated++;
      this.#inRange++;
      return this.family === 4
        ? formatIpv4Number(this.#baseNumber + offset)
        : formatIpv6(this.network.base + BigInt(offset));
    }
    const runs = this.#runs as RunSet;
    let offset: bigint;
    if (serial) {
      const start = this.#cursor === undefined ? this.#lo : this.#cursor + 1n;
      offset = runs.findClear(start > this.#lo ? start : this.#lo, this.#hi);
      if (offset < 0n) offset = runs.findClear(this.#lo, start < this.#hi ? start : this.#hi);
    } else {
      offset = runs.findClear(this.#hint as bigint, this.#hi);
    }
    if (offset < 0n) throw this.#exhausted();
    runs.add(offset);
    if (!serial) this.#hint = offset + 1n;
    else this.#cursor = offset;
    this.#allocated++;
    this.#inRange++;
    return this.#text(offset);
  }

  /**
   * Takes a specific address (anywhere in the pool, also outside the sub-pool, as Docker's `--ip` and
   * `--gateway` may be) and returns its canonical text.
   * @throws TsnetError INVALID_ARGUMENT malformed, other family, outside the pool, network or broadcast address;
   * CONFLICT when already allocated.
   */
  reserve(text: string): string {
    const offset = this.offsetOf(text);
    const added = this.#bitmap !== undefined ? this.#bitmap.set(Number(offset)) : (this.#runs as RunSet).add(offset);
    if (!added) throw new TsnetError("CONFLICT", `Address "${text}" is already allocated in pool ${this.cidr}`);
    this.#allocated++;
    if (offset >= this.#lo && offset < this.#hi) this.#inRange++;
    return this.#text(offset);
  }

  /**
   * Frees an address; false when it was not allocated (or lies outside the pool).
   * @throws TsnetError INVALID_ARGUMENT when `text` is not an address of the pool's family.
   */
  release(text: string): boolean {
    const offset = this.#offset(text);
    if (offset === undefined || offset < this.#min || offset > this.#max) return false;
    const removed =
      this.#bitmap !== undefined ? this.#bitmap.clear(Number(offset)) : (this.#runs as RunSet).delete(offset);
    if (!removed) return false;
    this.#allocated--;
    if (offset >= this.#lo && offset < this.#hi) {
      this.#inRange--;
      if (this.#bitmap !== undefined) {
        if (Number(offset) < (this.#hint as number)) this.#hint = Number(offset);
      } else if (offset < (this.#hint as bigint)) this.#hint = offset;
    }
    return true;
  }

  /** True when the address is allocated. @throws TsnetError INVALID_ARGUMENT when malformed. */
  has(text: string): boolean {
    const offset = this.#offset(text);
    if (offset === undefined || offset < 0n || offset >= this.network.size) return false;
    return this.#bitmap !== undefined ? this.#bitmap.has(Number(offset)) : (this.#runs as RunSet).has(offset);
  }

  /** Canonical text of the address if it lies in the pool, else undefined. @throws INVALID_ARGUMENT when malformed. */
  canonical(text: string): string | undefined {
    const offset = this.#offset(text);
    return offset === undefined || offset < 0n || offset >= this.network.size ? undefined : this.#text(offset);
  }

  /**
   * The offset of an address an explicit request may take.
   * @throws TsnetError INVALID_ARGUMENT malformed, other family, outside the pool, network or broadcast address.
   */
  offsetOf(text: string): bigint {
    const offset = this.#offset(text);
    if (offset === undefined || offset < 0n || offset >= this.network.size) {
      throw new TsnetError("INVALID_ARGUMENT", `Address "${text}" is outside pool ${this.cidr}`);
    }
    if (offset === 0n) {
      throw new TsnetError("INVALID_ARGUMENT", `Address "${text}" is the network address of pool ${this.cidr}`);
    }
    if (offset > this.#max) {
      throw new TsnetError("INVALID_ARGUMENT", `Address "${text}" is the broadcast address of pool ${this.cidr}`);
    }
    return offset;
  }

  /** Every allocated address in ascending order. */
  addresses(): string[] {
    const out: string[] = [];
    if (this.#bitmap !== undefined) for (const offset of this.#bitmap.indexes()) out.push(this.#text(BigInt(offset)));
    else for (const offset of (this.#runs as RunSet).values()) out.push(this.#text(offset));
    return out;
  }

  /** Offset of `text` from the network address (possibly negative or past the end), undefined if other family. */
  #offset(text: string): bigint | undefined {
    const address = parseAddress(text);
    if (address === undefined) {
      throw new TsnetError("INVALID_ARGUMENT", `Address "${text}" is not an IP address`);
    }
    if (address.family !== this.family) return undefined;
    return address.value - this.network.base;
  }

  #text(offset: bigint): string {
    return this.family === 4
      ? formatIpv4Number(this.#baseNumber + Number(offset))
      : formatIpv6(this.network.base + offset);
  }

  #exhausted(): TsnetError {
    const range = this.subPool === undefined ? `pool ${this.cidr}` : `sub-pool ${formatNetwork(this.subPool)}`;
    return new TsnetError("EXHAUSTED", `no free address left in ${range} (PoolID "${this.id}")`);
  }
}

/** `com.docker.network.ipam.serial`: in RequestAddress or RequestPool options, "true" hands addresses out round-robin. */
export const SERIAL_OPTION = "com.docker.network.ipam.serial";

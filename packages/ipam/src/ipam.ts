import {
  type AddressSpacesResponse,
  type CallContext,
  type IpamCapabilitiesResponse,
  type IpamDriver,
  type Logger,
  type ReleaseAddressRequest,
  type ReleasePoolRequest,
  type RequestAddressRequest,
  type RequestAddressResponse,
  type RequestPoolRequest,
  type RequestPoolResponse,
  silentLogger,
  TsnetError,
  toTsnetError,
} from "@tsnet/protocol";
import type { Store } from "@tsnet/store";
import { containsNetwork, formatNetwork, type Network, overlaps, parseNetwork } from "./address.js";
import {
  chooseDefaultPool,
  type DefaultPool,
  type DefaultPoolRange,
  DOCKER_GLOBAL_DEFAULT_POOLS,
  DOCKER_LOCAL_DEFAULT_POOLS,
  parseDefaultPools,
} from "./default-pools.js";
import { type HostNetworks, ProcHostNetworks, readHostRoutes } from "./host-networks.js";
import { KEYS, type StoredPool } from "./keys.js";
import { Pool, SERIAL_OPTION } from "./pool.js";
import { checkPoolId, parseFamilyNetwork, stringMap } from "./validate.js";

/** `RequestAddress` option key whose value says what the address is for. */
export const REQUEST_ADDRESS_TYPE = "RequestAddressType";
/** `RequestAddressType` value of gateway requests. */
export const GATEWAY_ADDRESS_TYPE = "com.docker.network.gateway";

/** Options of {@link createIpam}. */
export interface IpamOptions {
  store: Store;
  logger?: Logger;
  /** Networks the host routes, skipped when choosing a default pool. Default: the kernel's, from /proc. */
  hostNetworks?: HostNetworks;
  /** Local-space default pools, as dockerd's `--default-address-pool`. Default: Docker's list. */
  defaultPools?: readonly DefaultPool[];
  /** Global-space default pools. Default: 10.0.0.0/8 in /24s, as Docker. */
  globalDefaultPools?: readonly DefaultPool[];
  /** Names returned by GetDefaultAddressSpaces. Default: Docker's "LocalDefault" / "GlobalDefault". */
  addressSpaces?: { local: string; global: string };
  /** Pools with more addresses use runs instead of a bitmap (tests exercise both). */
  bitmapLimit?: number;
}

/** A pool as the queries report it. */
export interface PoolInfo {
  poolId: string;
  addressSpace: string;
  pool: string;
  /** "" when none. */
  subPool: string;
  options: Record<string, string>;
  v6: boolean;
  /** Addresses held, including gateway and aux addresses. */
  allocated: bigint;
  /** Addresses a request without an address can still get (in the sub-pool when there is one). */
  free: bigint;
}

/**
 * Creates an IPAM on `store`, loading every pool and address already stored there (a restarted daemon has them all).
 *
 * @throws TsnetError INVALID_ARGUMENT when an option is malformed.
 * @example
 * const ipam = await createIpam({ store: new MemoryStore() });
 * const { PoolID } = await ipam.requestPool({ AddressSpace: "LocalDefault", Pool: "10.9.0.0/24", SubPool: "", Options: {}, V6: false });
 * const { Address } = await ipam.requestAddress({ PoolID, Address: "", Options: {} }); // "10.9.0.1/24"
 */
export async function createIpam(options: IpamOptions): Promise<Ipam> {
  const ipam = new Ipam(options);
  ipam.load();
  return ipam;
}

/**
 * Docker-compatible IP address management (an {@link IpamDriver}). Every acknowledged change is committed to the
 * store before its promise resolves; memory is changed first (so concurrent requests never get the same
 * address while a commit is pending) and changed back when the commit fails.
 */
export class Ipam implements IpamDriver {
  readonly #store: Store;
  readonly #log: Logger;
  readonly #hostNetworks: HostNetworks;
  readonly #spaces: { local: string; global: string };
  readonly #defaults: Map<string, DefaultPoolRange[]>;
  readonly #bitmapLimit: number | undefined;
  readonly #pools = new Map<string, Pool>();
  readonly #releasingPools = new Map<string, Promise<void>>();
  /** Pools reserved in memory whose creation is not committed yet: not usable until it is. */
  readonly #creatingPools = new Set<string>();
  readonly #releasingAddresses = new Map<string, Promise<void>>();

  /** @internal Use {@link createIpam}, which also loads the stored state. */
  constructor(options: IpamOptions) {
    this.#store = options.store;
    this.#log = options.logger ?? silentLogger;
    this.#hostNetworks = options.hostNetworks ?? new ProcHostNetworks();
    this.#spaces = options.addressSpaces ?? { local: "LocalDefault", global: "GlobalDefault" };
    for (const [which, name] of Object.entries(this.#spaces)) {
      if (typeof name !== "string" || !/^[A-Za-z0-9_.-]+$/.test(name)) {
        throw new TsnetError(
          "INVALID_ARGUMENT",
          `addressSpaces.${which} "${name}" must be letters, digits, "_", "." or "-"`,
        );
      }
    }
    if (this.#spaces.local === this.#spaces.global) {
      throw new TsnetError("INVALID_ARGUMENT", `addressSpaces.local and .global are both "${this.#spaces.local}"`);
    }
    this.#defaults = new Map([
      [this.#spaces.local, parseDefaultPools(options.defaultPools ?? DOCKER_LOCAL_DEFAULT_POOLS)],
      [this.#spaces.global, parseDefaultPools(options.globalDefaultPools ?? DOCKER_GLOBAL_DEFAULT_POOLS)],
    ]);
    this.#bitmapLimit = options.bitmapLimit;
  }

  /** @internal Rebuilds pools and their allocations from the store. */
  load(): void {
    for (const [key, stored] of this.#store.list<StoredPool>("ipam/pool/")) {
      const poolId = key.slice("ipam/pool/".length);
      const network = parseNetwork(stored.pool);
      const subPool = stored.subPool === "" ? undefined : parseNetwork(stored.subPool);
      if (network === undefined || (stored.subPool !== "" && subPool === undefined)) {
        this.#log.error({ poolId, stored }, "stored pool is malformed; skipped");
        continue;
      }
      this.#pools.set(poolId, this.#newPool(poolId, stored.addressSpace, network, subPool, stored.options ?? {}));
    }
    let addresses = 0;
    // scan, not list: a full /12 is a million keys, which list would hold in memory at once.
    for (const [key] of this.#store.scan?.("ipam/addr/") ?? this.#store.list("ipam/addr/")) {
      const rest = key.slice("ipam/addr/".length);
      const slash = rest.lastIndexOf("/");
      const pool = this.#pools.get(rest.slice(0, slash));
      try {
        if (pool === undefined) throw new TsnetError("NOT_FOUND", "its pool is not stored");
        pool.reserve(rest.slice(slash + 1));
        addresses++;
      } catch (error) {
        this.#log.warn({ key, err: error }, "stored address skipped");
      }
    }
    for (const [key, offset] of this.#store.list<string>("ipam/cursor/")) {
      const pool = this.#pools.get(key.slice("ipam/cursor/".length));
      if (pool !== undefined && /^\d+$/.test(offset)) pool.cursor = BigInt(offset);
    }
    this.#log.info({ pools: this.#pools.size, addresses }, "IPAM state loaded");
  }

  /**
   * Docker asks for no MAC and no replay: this IPAM persists every pool and address itself (a replay would only
   * repeat what is stored, and Docker ignores replay errors anyway).
   */
  getCapabilities(): IpamCapabilitiesResponse {
    return { RequiresMACAddress: false, RequiresRequestReplay: false };
  }

  getDefaultAddressSpaces(): AddressSpacesResponse {
    return { LocalDefaultAddressSpace: this.#spaces.local, GlobalDefaultAddressSpace: this.#spaces.global };
  }

  /**
   * Allocates a pool: the requested `Pool` (with optional `SubPool`), or with `Pool` "" the first default pool
   * that overlaps neither a held pool of the address space nor a network the host routes.
   *
   * @throws TsnetError INVALID_ARGUMENT malformed request; CONFLICT the pool overlaps a held one (both named);
   * EXHAUSTED no default pool left; UNAVAILABLE the commit failed (nothing kept).
   */
  async requestPool(request: RequestPoolRequest, context?: CallContext): Promise<RequestPoolResponse> {
    const call = "RequestPool";
    const space = request.AddressSpace;
    if (!this.#defaults.has(space)) {
      throw new TsnetError(
        "INVALID_ARGUMENT",
        `${call}: AddressSpace "${space}" is not "${this.#spaces.local}" or "${this.#spaces.global}"`,
      );
    }
    if (typeof request.V6 !== "boolean") throw new TsnetError("INVALID_ARGUMENT", `${call}: V6 must be a boolean`);
    const options = stringMap(call, "Options", request.Options);
    const family = request.V6 ? 6 : 4;
    let network: Network;
    let subPool: Network | undefined;
    if (request.Pool === "" || request.Pool === undefined) {
      if (request.SubPool !== "" && request.SubPool !== undefined) {
        throw new TsnetError("INVALID_ARGUMENT", `${call}: SubPool "${request.SubPool}" needs a Pool`);
      }
      const routes = await readHostRoutes(this.#hostNetworks, context?.signal);
      const taken = (candidate: Network) => this.#overlapping(space, candidate) !== undefined;
      network = chooseDefaultPool(call, space, this.#defaults.get(space) ?? [], family, taken, routes);
    } else {
      network = parseFamilyNetwork(call, "Pool", request.Pool, family);
      if (request.SubPool !== "" && request.SubPool !== undefined) {
        subPool = parseFamilyNetwork(call, "SubPool", request.SubPool, family);
        if (!containsNetwork(network, subPool)) {
          throw new TsnetError(
            "INVALID_ARGUMENT",
            `${call}: SubPool "${request.SubPool}" is not inside Pool ${formatNetwork(network)}`,
          );
        }
      }
      const clash = this.#overlapping(space, network);
      if (clash !== undefined) {
        throw new TsnetError(
          "CONFLICT",
          `${call}: Pool ${formatNetwork(network)} overlaps pool ${clash.cidr} (PoolID "${clash.id}") in address space "${space}"`,
        );
      }
    }
    const cidr = formatNetwork(network);
    const poolId = subPool === undefined ? `${space}/${cidr}` : `${space}/${cidr}/${formatNetwork(subPool)}`;
    const pool = this.#newPool(poolId, space, network, subPool, options);
    this.#pools.set(poolId, pool);
    this.#creatingPools.add(poolId);
    const stored: StoredPool = {
      addressSpace: space,
      pool: cidr,
      subPool: subPool === undefined ? "" : formatNetwork(subPool),
      options,
      v6: request.V6,
    };
    try {
      await this.#store.transaction((tx) => tx.put(KEYS.pool(poolId), stored), context?.signal);
    } catch (error) {
      this.#pools.delete(poolId);
      throw toTsnetError(error);
    } finally {
      this.#creatingPools.delete(poolId);
    }
    this.#log.info({ poolId, pool: cidr, subPool: stored.subPool }, "pool allocated");
    // Docker's default IPAM returns no gateway in Data: the daemon then asks for one with RequestAddress.
    return { PoolID: poolId, Pool: cidr, Data: {} };
  }

  /**
   * Frees a pool and every address still allocated in it (after a crash the daemon may never release them).
   * Unknown pools succeed and change nothing.
   *
   * @throws TsnetError INVALID_ARGUMENT malformed PoolID; UNAVAILABLE the commit failed (nothing changed).
   */
  async releasePool(request: ReleasePoolRequest, context?: CallContext): Promise<void> {
    const poolId = request.PoolID;
    const pool = this.#pools.get(poolId);
    if (pool === undefined) {
      checkPoolId("ReleasePool", poolId);
      this.#log.debug({ poolId }, "release of unknown pool ignored");
      return;
    }
    const pending = this.#releasingPools.get(poolId);
    if (pending !== undefined) return pending;
    const release = (async () => {
      const freed = await this.#store.transaction((tx) => {
        const keys = tx.list(`ipam/addr/${poolId}/`).map(([key]) => key);
        for (const key of keys) tx.delete(key);
        tx.delete(KEYS.pool(poolId));
        tx.delete(KEYS.cursor(poolId));
        return keys.map((key) => key.slice(key.lastIndexOf("/") + 1));
      }, context?.signal);
      this.#pools.delete(poolId);
      this.#log.info(
        { poolId, freed: freed.length, addresses: freed.slice(0, 16) },
        freed.length === 0 ? "pool released" : "pool released with addresses still allocated",
      );
    })();
    this.#releasingPools.set(poolId, release);
    try {
      await release;
    } catch (error) {
      throw toTsnetError(error);
    } finally {
      this.#releasingPools.delete(poolId);
    }
  }

  /**
   * Allocates an address: the requested `Address` (anywhere in the pool), the gateway (`RequestAddressType`
   * `com.docker.network.gateway`: lowest free, so the first of the sub-pool), the lowest free address, or with
   * `com.docker.network.ipam.serial` "true" (request or pool options) the next free one after the last handed out.
   * Replies in CIDR form with the pool's prefix length.
   *
   * @throws TsnetError INVALID_ARGUMENT malformed request or unusable address; NOT_FOUND unknown pool;
   * CONFLICT address already allocated; EXHAUSTED no free address; UNAVAILABLE the commit failed (nothing kept).
   */
  async requestAddress(request: RequestAddressRequest, context?: CallContext): Promise<RequestAddressResponse> {
    const pool = this.#pools.get(request.PoolID);
    if (pool === undefined || this.#releasingPools.has(request.PoolID) || this.#creatingPools.has(request.PoolID)) {
      checkPoolId("RequestAddress", request.PoolID);
      throw new TsnetError("NOT_FOUND", `RequestAddress: PoolID "${request.PoolID}" is not allocated`);
    }
    const options = request.Options ?? {};
    const isGateway = options[REQUEST_ADDRESS_TYPE] === GATEWAY_ADDRESS_TYPE;
    const serial = !isGateway && (options[SERIAL_OPTION] === "true" || pool.serial);
    const cursor = pool.cursor;
    let address: string;
    try {
      if (request.Address === "" || request.Address === undefined || request.Address === null) {
        address = pool.allocate(serial);
      } else if (typeof request.Address !== "string" || request.Address.includes("/")) {
        throw new TsnetError("INVALID_ARGUMENT", `Address "${request.Address}" must be a plain IP address`);
      } else {
        address = pool.reserve(request.Address);
      }
    } catch (error) {
      const failure = toTsnetError(error);
      throw new TsnetError(failure.code, `RequestAddress: ${failure.message}`, { cause: error });
    }
    const poolId = pool.id;
    const newCursor = pool.cursor;
    const key = pool.addressKeyPrefix + address;
    try {
      await this.#store.transaction((tx) => {
        tx.put(key, isGateway ? "gateway" : "address");
        if (newCursor !== cursor && newCursor !== undefined) tx.put(KEYS.cursor(poolId), newCursor.toString());
      }, context?.signal);
    } catch (error) {
      pool.release(address);
      if (pool.cursor === newCursor) pool.cursor = cursor;
      throw toTsnetError(error);
    }
    return { Address: `${address}/${pool.prefix}`, Data: {} };
  }

  /**
   * Frees an address. An unknown pool or an address not allocated succeeds and changes nothing.
   *
   * @throws TsnetError INVALID_ARGUMENT malformed PoolID or Address; UNAVAILABLE the commit failed.
   */
  async releaseAddress(request: ReleaseAddressRequest, context?: CallContext): Promise<void> {
    const pool = this.#pools.get(request.PoolID);
    if (typeof request.Address !== "string" || request.Address.includes("/")) {
      throw new TsnetError(
        "INVALID_ARGUMENT",
        `ReleaseAddress: Address "${request.Address}" must be a plain IP address`,
      );
    }
    if (pool === undefined) {
      checkPoolId("ReleaseAddress", request.PoolID);
      if (parseNetwork(`${request.Address}/0`) === undefined) {
        throw new TsnetError("INVALID_ARGUMENT", `ReleaseAddress: Address "${request.Address}" is not an IP address`);
      }
      return;
    }
    let address: string | undefined;
    try {
      address = pool.canonical(request.Address);
    } catch (error) {
      const failure = toTsnetError(error);
      throw new TsnetError(failure.code, `ReleaseAddress: ${failure.message}`, { cause: error });
    }
    if (address === undefined || !pool.has(address)) return;
    const key = pool.addressKeyPrefix + address;
    const pending = this.#releasingAddresses.get(key);
    if (pending !== undefined) return pending;
    // The address stays taken in memory until the delete is durable, so nobody gets it while it is still stored.
    const release = this.#store
      .transaction((tx) => tx.delete(key), context?.signal)
      .then(() => {
        pool.release(address);
      });
    this.#releasingAddresses.set(key, release);
    try {
      await release;
    } catch (error) {
      throw toTsnetError(error);
    } finally {
      this.#releasingAddresses.delete(key);
    }
  }

  /** Every pool held, in PoolID order. */
  pools(): PoolInfo[] {
    return [...this.#pools.values()]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((pool) => ({
        poolId: pool.id,
        addressSpace: pool.space,
        pool: pool.cidr,
        subPool: pool.subPool === undefined ? "" : formatNetwork(pool.subPool),
        options: { ...pool.options },
        v6: pool.family === 6,
        allocated: pool.allocatedCount,
        free: pool.freeCount(),
      }));
  }

  /** Addresses allocated in a pool (no prefix), ascending. @throws TsnetError NOT_FOUND unknown pool. */
  allocations(poolId: string): string[] {
    return this.#pool(poolId).addresses();
  }

  /** Addresses a request without an address can still get. @throws TsnetError NOT_FOUND unknown pool. */
  freeCount(poolId: string): bigint {
    return this.#pool(poolId).freeCount();
  }

  #pool(poolId: string): Pool {
    const pool = this.#pools.get(poolId);
    if (pool === undefined) throw new TsnetError("NOT_FOUND", `PoolID "${poolId}" is not allocated`);
    return pool;
  }

  #newPool(
    id: string,
    space: string,
    network: Network,
    subPool: Network | undefined,
    options: Record<string, string>,
  ): Pool {
    return new Pool({
      id,
      space,
      network,
      subPool,
      options,
      ...(this.#bitmapLimit === undefined ? {} : { bitmapLimit: this.#bitmapLimit }),
    });
  }

  #overlapping(space: string, network: Network): Pool | undefined {
    for (const pool of this.#pools.values()) {
      if (pool.space === space && overlaps(pool.network, network)) return pool;
    }
    return undefined;
  }
}

import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { TsnetError } from "@tsnet/protocol";
import { deadline, fromNetlink, withSignal } from "./netlink-error.js";

/** Link group the worker moves links into before deleting the whole group in one request. */
export const REAP_GROUP = 0x7473;

/**
 * The worker's code, plain CommonJS evaluated by `new Worker(code, { eval: true })`: no file to locate in src/
 * or dist/, no TypeScript loader needed in the worker. It holds its own rtnetlink socket (in the namespace at
 * `namespacePath`: setns(2) on the worker's own thread, where it may stay) and deletes links by name; many
 * links are moved into REAP_GROUP and deleted with ONE RTM_DELLINK, so they share one RCU grace period.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const fs = require("node:fs");
const { createRtNetlink } = require(workerData.netlink);
if (workerData.namespacePath) {
  const koffi = require(workerData.koffi);
  const setns = koffi.load("libc.so.6").func("int setns(int fd, int nstype)");
  const fd = fs.openSync(workerData.namespacePath, "r");
  try {
    if (setns(fd, 0x40000000) !== 0) throw new Error("setns " + workerData.namespacePath + " failed");
  } finally {
    fs.closeSync(fd);
  }
}
const socket = createRtNetlink();
const errno = (e) => (/Request rejected: (E[A-Z0-9]+)/.exec(String(e)) || [])[1];
const isGone = (e) => errno(e) === "ENODEV" || errno(e) === "ENOENT";
async function remove(names) {
  if (names.length === 1) {
    try { await socket.delLink({}, { ifname: names[0] }); } catch (e) { if (!isGone(e)) throw e; }
    return;
  }
  let marked = 0;
  for (const name of names) {
    try { await socket.setLink({}, { ifname: name, group: workerData.group }); marked++; } catch (e) { if (!isGone(e)) throw e; }
  }
  if (marked > 0) await socket.delLink({}, { group: workerData.group });
}
parentPort.on("message", (message) => {
  if (message === "close") {
    // Closing our own socket and port lets the thread end by itself: terminating it from outside while its
    // socket is polled can make the native addon throw past its callback and abort the whole process.
    socket.socket.close();
    parentPort.close();
    return;
  }
  const { id, names } = message;
  remove(names).then(
    () => parentPort.postMessage({ id }),
    (e) => parentPort.postMessage({ id, error: String(e && e.message || e) }),
  );
});
`;

interface Reply {
  id: number;
  error?: string;
}

/**
 * Sends link deletions to a worker thread. Deleting a link blocks the sending thread inside sendmsg(2) for an
 * RCU grace period (measured here: 22 ms for one veth pair, 100 ms for a 200-link group); on the main thread
 * that would stall every other request. The worker starts on first use and never keeps the process alive
 * when idle.
 */
export class OffThreadDeleter {
  private readonly namespacePath: string | undefined;
  private readonly timeoutMs: number;
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (error: Error) => void; what: string }>();

  constructor(namespacePath: string | undefined, timeoutMs: number) {
    this.namespacePath = namespacePath;
    this.timeoutMs = timeoutMs;
  }

  /** Deletes the links (one: by name; several: as one group). Missing links count as deleted. */
  delete(names: readonly string[], what: string, signal?: AbortSignal): Promise<void> {
    const worker = this.start();
    const id = this.nextId++;
    const done = new Promise<void>((resolve, reject) => this.waiting.set(id, { resolve, reject, what }));
    if (this.waiting.size === 1) worker.ref();
    worker.postMessage({ id, names: [...names] });
    // Deleting is slow by nature: a big group gets a few request deadlines.
    return withSignal(done, deadline(signal, this.timeoutMs * 4), what);
  }

  /** Lets pending deletes finish, then asks the worker to close its socket and end. */
  async close(): Promise<void> {
    const worker = this.worker;
    if (worker === undefined) return;
    const until = Date.now() + this.timeoutMs * 4;
    while (this.waiting.size > 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 5));
    this.worker = undefined;
    const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
    worker.ref();
    worker.postMessage("close");
    const timer = setTimeout(() => void worker.terminate(), 2_000);
    await exited;
    clearTimeout(timer);
  }

  private start(): Worker {
    if (this.worker !== undefined) return this.worker;
    const require = createRequire(import.meta.url);
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        netlink: require.resolve("netlink"),
        koffi: require.resolve("koffi"),
        namespacePath: this.namespacePath,
        group: REAP_GROUP,
      },
    });
    worker.unref();
    worker.on("message", (reply: Reply) => {
      const entry = this.waiting.get(reply.id);
      if (entry === undefined) return;
      this.waiting.delete(reply.id);
      if (this.waiting.size === 0) worker.unref();
      if (reply.error === undefined) entry.resolve();
      else entry.reject(fromNetlink(new Error(reply.error), entry.what));
    });
    worker.on("error", (error) => this.failAll(error));
    worker.on("exit", (code) => {
      if (this.worker === worker) this.worker = undefined;
      this.failAll(new Error(`exited with code ${code}`));
    });
    this.worker = worker;
    return worker;
  }

  private failAll(error: Error): void {
    for (const entry of this.waiting.values()) {
      entry.reject(
        new TsnetError("UNAVAILABLE", `${entry.what}: link delete worker ${error.message}`, { cause: error }),
      );
    }
    this.waiting.clear();
  }
}

import { closeSync, openSync } from "node:fs";
import { constants } from "node:os";
import { TsnetError } from "@tsnet/protocol";
import koffi from "koffi";

/**
 * Runs `create` with the calling thread switched into the network namespace at `path`, then switches back.
 *
 * A netlink socket belongs to the namespace of the thread that created it, for its whole life. Node has no
 * setns(2), so we call libc's through koffi (prebuilt FFI). setns(CLONE_NEWNET) changes only the calling
 * thread, is allowed in a multi-threaded process, and nothing else runs on this thread between the two calls
 * (the work is synchronous), so the rest of the process never sees the other namespace. This is what
 * vishvananda/netlink's `netns.Set` + `LockOSThread` does in Go.
 */
export function inNamespace<T>(path: string, create: () => T): T {
  const home = openSync("/proc/thread-self/ns/net", "r");
  let target: number;
  try {
    target = openSync(path, "r");
  } catch (error) {
    closeSync(home);
    throw new TsnetError("NOT_FOUND", `network namespace "${path}": cannot open`, { cause: error });
  }
  try {
    enter(target, path);
    try {
      return create();
    } finally {
      enter(home, "/proc/thread-self/ns/net (back home)");
    }
  } finally {
    closeSync(target);
    closeSync(home);
  }
}

const CLONE_NEWNET = 0x40000000;
let setnsCall: ((fd: number, type: number) => number) | undefined;

function enter(fd: number, what: string): void {
  if (setnsCall === undefined) {
    const libc = koffi.load("libc.so.6");
    setnsCall = libc.func("int setns(int fd, int nstype)") as unknown as (fd: number, type: number) => number;
  }
  if (setnsCall(fd, CLONE_NEWNET) !== 0) {
    const code = koffi.errno();
    const name = Object.entries(constants.errno).find(([, value]) => value === code)?.[0] ?? String(code);
    throw new TsnetError(code === constants.errno.EINVAL ? "INVALID_ARGUMENT" : "INTERNAL", `setns ${what}: ${name}`);
  }
}

/** Helpers for *.kernel.test.ts: they run as root under `unshare -n`, so links they make die with the run. */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createNamedNamespace, deleteNamedNamespace, type NetlinkNamespace, namedNamespacePath } from "./namespace.js";
import { attachToNamespace } from "./sandbox.js";

/** A per-run prefix for every kernel object a test makes: `tst` + 4 hex. */
export const prefix: string = `tst${randomBytes(2).toString("hex")}`;

/** Runs a command, resolving with its exit code and output (never rejects on a non-zero exit). */
export function sh(command: string, timeoutMs = 10_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("sh", ["-c", command], { timeout: timeoutMs }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** Named namespaces made by this run, deleted by `cleanupNamespaces`. */
const made = new Set<string>();

export async function makeNamespace(suffix: string): Promise<string> {
  const name = `${prefix}-${suffix}`;
  made.add(name);
  return createNamedNamespace(name);
}

export async function cleanupNamespaces(): Promise<void> {
  for (const name of made) await deleteNamedNamespace(name).catch(() => {});
  made.clear();
}

/** A "container": a named namespace with eth0 = a veth whose host end is on `bridge`. Returns its namespace name. */
export async function makeContainer(
  root: NetlinkNamespace,
  suffix: string,
  bridge: string,
  cidr: string,
  gateway?: string,
): Promise<string> {
  const path = await makeNamespace(suffix);
  const host = `${prefix}h${suffix}`.slice(0, 15);
  const peer = `${prefix}p${suffix}`.slice(0, 15);
  await root.links.addVethPair(host, peer, { mtu: 1500, master: bridge, up: true });
  await attachToNamespace(root.links, path, {
    link: peer,
    addresses: [cidr],
    ...(gateway === undefined ? {} : { gateway }),
  });
  return path.slice(path.lastIndexOf("/") + 1);
}

export function nsPath(name: string): string {
  return namedNamespacePath(name);
}

/** One ping from inside namespace `ns`: true when answered within a second. */
export async function ping(ns: string, address: string): Promise<boolean> {
  return (await sh(`ip netns exec ${ns} busybox ping -c 1 -W 1 ${address}`)).code === 0;
}

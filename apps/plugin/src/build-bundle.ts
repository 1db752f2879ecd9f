#!/usr/bin/env node
// pnpm --filter @tsnet/plugin build-bundle DIR: writes the managed-plugin bundle into DIR.
import { resolve } from "node:path";
import { buildBundle, describe } from "./bundle.js";

const [dir, ...rest] = process.argv.slice(2);
if (dir === "-h" || dir === "--help") {
  process.stdout.write(
    "Usage: pnpm --filter @tsnet/plugin build-bundle DIR\n\nBuilds a Docker managed-plugin bundle (config.json + rootfs/) of tsnet in DIR (emptied first),\nfrom this machine's node, nft and iptables-nft and the built daemon.\n\nExample:\n  pnpm --filter @tsnet/plugin build-bundle /tmp/tsnet-plugin && docker plugin create tsnet/tsnet /tmp/tsnet-plugin\n",
  );
  process.exit(0);
}
if (dir === undefined || dir === "" || rest.length > 0) {
  process.stderr.write("Usage: pnpm --filter @tsnet/plugin build-bundle DIR\n");
  process.exit(2);
}
try {
  const summary = buildBundle(resolve(process.env.INIT_CWD ?? process.cwd(), dir));
  process.stdout.write(`${describe(summary)}\n`);
} catch (error) {
  process.stderr.write(`build-bundle: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}

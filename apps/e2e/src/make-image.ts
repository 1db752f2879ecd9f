// `pnpm --filter @tsnet/e2e make-image [TAG]`: builds the busybox image the README's quick start runs
// (default tag tsnet-busybox:latest) from the host's busybox-static, with no registry.
import { ensureBusyboxImage } from "./harness.js";

const tag = process.argv[2] ?? "tsnet-busybox:latest";
await ensureBusyboxImage(tag);
process.stdout.write(`${tag}\n`);

import { createRtNetlink, rt } from "netlink";
import { parseLinkInfo } from "./attributes.js";
import { inNamespace } from "./setns.js";

/** A link appeared, changed (flags, master, MTU...) or disappeared. */
export interface LinkEvent {
  type: "added-or-changed" | "deleted";
  name: string;
  index: number;
  /** IFLA_INFO_KIND ("bridge", "veth", ...), when the kernel sent it. */
  kind?: string;
  up: boolean;
}

/** A running subscription; `close()` stops it. */
export interface LinkWatch {
  close(): void;
}

const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;

/**
 * Subscribes to the kernel's link notifications (RTNLGRP_LINK) in the current namespace or the one at
 * `namespacePath`: e.g. to notice a bridge someone deleted by hand. The socket does not keep the process alive.
 * The kernel drops notifications when the socket's buffer overflows; reconcile with `links.list()` if exactness
 * matters (an `onLost` callback tells when that happened).
 */
export function watchLinks(
  onEvent: (event: LinkEvent) => void,
  options: { namespacePath?: string; onLost?: (error: Error) => void } = {},
): LinkWatch {
  const open = () => createRtNetlink();
  const socket = options.namespacePath === undefined ? open() : inNamespace(options.namespacePath, open);
  socket.addMembership("LINK");
  socket.socket.on("message", (messages) => {
    for (const message of messages) {
      if (message.type !== RTM_NEWLINK && message.type !== RTM_DELLINK) continue;
      const link = rt.parseLinkMessage(message.data);
      const kind = parseLinkInfo(link.attrs.linkinfo).kind;
      // This runs inside the native addon's poll callback: an exception escaping it aborts the process.
      try {
        onEvent({
          type: message.type === RTM_NEWLINK ? "added-or-changed" : "deleted",
          name: link.attrs.ifname ?? "",
          index: link.data.index ?? 0,
          ...(kind === undefined ? {} : { kind }),
          up: link.data.flags?.up === true,
        });
      } catch (error) {
        options.onLost?.(error instanceof Error ? error : new Error(String(error)));
      }
    }
  });
  socket.socket.on("error", (error) => {
    try {
      options.onLost?.(error);
    } catch {
      // see above: never throw into the addon
    }
  });
  socket.socket.socket.unref();
  return { close: () => socket.socket.close() };
}

/**
 * A small netlink attribute (TLV) codec for what the `netlink` package leaves as raw buffers: IFLA_LINKINFO
 * (link kind + kind-specific data) and the veth peer's nested ifinfomsg.
 * Layout (linux/netlink.h): u16 length (header included), u16 type, payload, padding to 4 bytes.
 */

const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;

/** One encoded attribute, padded. */
export function attribute(type: number, payload: Uint8Array): Buffer {
  const length = 4 + payload.length;
  const out = Buffer.alloc((length + 3) & ~3);
  out.writeUInt16LE(length, 0);
  out.writeUInt16LE(type, 2);
  out.set(payload, 4);
  return out;
}

export function nested(type: number, children: readonly Uint8Array[]): Buffer {
  return attribute(type | NLA_F_NESTED, Buffer.concat(children));
}

export function u8(value: number): Buffer {
  return Buffer.from([value & 0xff]);
}

export function u16be(value: number): Buffer {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(value, 0);
  return out;
}

export function u32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32LE(value >>> 0, 0);
  return out;
}

export function cString(value: string): Buffer {
  return Buffer.concat([Buffer.from(value, "utf8"), Buffer.from([0])]);
}

/** Parses a stream of attributes into type → payload (the last one of a type wins). */
export function parseAttributes(data: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let offset = 0;
  while (offset + 4 <= data.length) {
    const length = data.readUInt16LE(offset);
    if (length < 4 || offset + length > data.length) break;
    out.set(data.readUInt16LE(offset + 2) & NLA_TYPE_MASK, data.subarray(offset + 4, offset + length));
    offset += (length + 3) & ~3;
  }
  return out;
}

// linux/if_link.h
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_GROUP = 27;
const IFLA_NET_NS_FD = 28;
const IFLA_VXLAN_ID = 1;
const IFLA_VXLAN_LINK = 3;
const IFLA_VXLAN_LOCAL = 4;
const IFLA_VXLAN_LEARNING = 7;
const IFLA_VXLAN_PORT = 15;
const IFLA_VXLAN_LOCAL6 = 17;
const IFLA_MACVLAN_MODE = 1;
const IFLA_INFO_SLAVE_KIND = 4;
const IFLA_INFO_SLAVE_DATA = 5;
const IFLA_BRPORT_MODE = 4;

/** IFLA_LINKINFO payload for a kind without data (bridge). */
export function linkInfo(kind: string, data?: readonly Uint8Array[]): Buffer {
  const parts = [attribute(IFLA_INFO_KIND, cString(kind))];
  if (data !== undefined) parts.push(nested(IFLA_INFO_DATA, data));
  return Buffer.concat(parts);
}

export interface VethPeer {
  name: string;
  mtu: number;
  macAddress?: Uint8Array;
  /** An open fd of the namespace to create the peer in. */
  namespaceFd?: number;
  /** Link group (IFLA_GROUP): marks the peer as this daemon's, like its host end. */
  group?: number;
}

/** IFLA_LINKINFO payload for a veth pair: VETH_INFO_PEER holds a struct ifinfomsg (16 zero bytes) then IFLA_*. */
export function vethLinkInfo(peer: VethPeer): Buffer {
  const attrs = [attribute(IFLA_IFNAME, cString(peer.name)), attribute(IFLA_MTU, u32(peer.mtu))];
  if (peer.macAddress !== undefined) attrs.push(attribute(IFLA_ADDRESS, peer.macAddress));
  if (peer.namespaceFd !== undefined) attrs.push(attribute(IFLA_NET_NS_FD, u32(peer.namespaceFd)));
  if (peer.group !== undefined) attrs.push(attribute(IFLA_GROUP, u32(peer.group)));
  const peerMessage = Buffer.concat([Buffer.alloc(16), ...attrs]);
  return linkInfo("veth", [attribute(VETH_INFO_PEER | NLA_F_NESTED, peerMessage)]);
}

export interface VxlanInfo {
  vni: number;
  port: number;
  local?: Uint8Array;
  parentIndex?: number;
}

export function vxlanLinkInfo(info: VxlanInfo): Buffer {
  const data = [
    attribute(IFLA_VXLAN_ID, u32(info.vni)),
    attribute(IFLA_VXLAN_PORT, u16be(info.port)),
    // FDB entries are programmed by the driver (as Docker's overlay does), not learned.
    attribute(IFLA_VXLAN_LEARNING, u8(0)),
  ];
  if (info.parentIndex !== undefined) data.push(attribute(IFLA_VXLAN_LINK, u32(info.parentIndex)));
  if (info.local !== undefined) {
    data.push(attribute(info.local.length === 4 ? IFLA_VXLAN_LOCAL : IFLA_VXLAN_LOCAL6, info.local));
  }
  return linkInfo("vxlan", data);
}

const MACVLAN_MODES = { private: 1, vepa: 2, bridge: 4, passthru: 8 } as const;
export type MacvlanMode = keyof typeof MACVLAN_MODES;

export function macvlanLinkInfo(mode: MacvlanMode): Buffer {
  return linkInfo("macvlan", [attribute(IFLA_MACVLAN_MODE, u32(MACVLAN_MODES[mode]))]);
}

/**
 * IFLA_LINKINFO payload that changes an existing bridge port (`ip link set X type bridge_slave hairpin on`):
 * IFLA_INFO_SLAVE_KIND "bridge" and IFLA_INFO_SLAVE_DATA { IFLA_BRPORT_MODE }. Sent in an RTM_NEWLINK without
 * NLM_F_CREATE to a link that already has a bridge master (the kernel picks the master's ops before any change).
 */
export function bridgePortLinkInfo(options: { hairpin: boolean }): Buffer {
  return Buffer.concat([
    attribute(IFLA_INFO_SLAVE_KIND, cString("bridge")),
    nested(IFLA_INFO_SLAVE_DATA, [attribute(IFLA_BRPORT_MODE, u8(options.hairpin ? 1 : 0))]),
  ]);
}

/** What a dumped IFLA_LINKINFO says: the kind, for vxlan VNI and port, for a bridge port its hairpin mode. */
export interface ParsedLinkInfo {
  kind?: string;
  vni?: number;
  port?: number;
  hairpin?: boolean;
}

export function parseLinkInfo(data: Buffer | undefined): ParsedLinkInfo {
  if (data === undefined) return {};
  const info = parseAttributes(data);
  const kindBytes = info.get(IFLA_INFO_KIND);
  const kind = kindBytes === undefined ? undefined : kindBytes.toString("utf8").replace(/\0+$/, "");
  const out: ParsedLinkInfo = {};
  if (kind !== undefined) out.kind = kind;
  const payload = info.get(IFLA_INFO_DATA);
  if (kind === "vxlan" && payload !== undefined) {
    const vxlan = parseAttributes(payload);
    const id = vxlan.get(IFLA_VXLAN_ID);
    const port = vxlan.get(IFLA_VXLAN_PORT);
    if (id !== undefined && id.length >= 4) out.vni = id.readUInt32LE(0);
    if (port !== undefined && port.length >= 2) out.port = port.readUInt16BE(0);
  }
  const slaveKind = info.get(IFLA_INFO_SLAVE_KIND)?.toString("utf8").replace(/\0+$/, "");
  const slaveData = info.get(IFLA_INFO_SLAVE_DATA);
  if (slaveKind === "bridge" && slaveData !== undefined) {
    const mode = parseAttributes(slaveData).get(IFLA_BRPORT_MODE);
    if (mode !== undefined && mode.length >= 1) out.hairpin = mode.readUInt8(0) === 1;
  }
  return out;
}

/** "aa:bb:cc:dd:ee:ff" → 6 bytes; throws on anything else. */
export function parseMac(text: string): Buffer {
  if (!/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(text)) throw new RangeError(`not a MAC address: "${text}"`);
  return Buffer.from(text.split(":").map((part) => Number.parseInt(part, 16)));
}

export function formatMac(bytes: Uint8Array | undefined): string {
  if (bytes === undefined) return "";
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join(":");
}

/**
 * One parser per protocol call: takes the decoded JSON body (`undefined` for an empty body) and returns the typed
 * request of messages.ts, or throws one TsnetError("INVALID_ARGUMENT") naming the call, the field and the value.
 * Unknown fields are ignored; known struct fields match in any case, as Go's encoding/json matches them.
 */
import { TsnetError } from "./error.js";
import {
  ENABLE_IPV6_OPTION,
  EXPOSED_PORTS_OPTION,
  GENERIC_OPTION,
  INTERNAL_OPTION,
  PORT_MAP_OPTION,
} from "./labels.js";
import type {
  AllocateNetworkRequest,
  CreateEndpointRequest,
  CreateNetworkRequest,
  DiscoveryRequest,
  EndpointInterface,
  EndpointOptions,
  EndpointRequest,
  IpamData,
  JoinRequest,
  NetworkOptions,
  NetworkRequest,
  PortBinding,
  PortProtocol,
  ProgramExternalConnectivityRequest,
  ReleaseAddressRequest,
  ReleasePoolRequest,
  RequestAddressRequest,
  RequestPoolRequest,
  TransportPort,
} from "./messages.js";
import {
  checkCidr,
  checkIp,
  Fields,
  invalid,
  isMacAddress,
  isObject,
  type JsonObject,
  readStringMap,
  showValue,
} from "./validate.js";

/** The top-level object of a call that needs arguments. Retries after a dropped connection arrive empty (§1.4). */
function body(call: string, value: unknown): Fields {
  if (value === undefined) throw new TsnetError("INVALID_ARGUMENT", `${call}: request body is empty`);
  if (!isObject(value)) {
    throw new TsnetError("INVALID_ARGUMENT", `${call}: request body ${showValue(value)} is not a JSON object`);
  }
  return new Fields(call, "", value);
}

function ipamData(fields: Fields, key: string, family: 4 | 6): IpamData[] {
  return fields.array(key).map((item, index) => {
    const path = `${fields.at(key)}[${index}]`;
    if (!isObject(item)) invalid(fields.call, path, item, "is not an object");
    const entry = new Fields(fields.call, path, item);
    const pool = entry.requiredString("Pool");
    checkCidr(fields.call, entry.at("Pool"), pool, family);
    const data: IpamData = {
      AddressSpace: entry.string("AddressSpace"),
      Pool: pool,
      AuxAddresses: {},
    };
    const gateway = entry.optionalCidr("Gateway", family);
    if (gateway !== "") data.Gateway = gateway;
    const aux = entry.stringMap("AuxAddresses");
    for (const name in aux)
      checkCidr(fields.call, `${entry.at("AuxAddresses")}[${JSON.stringify(name)}]`, aux[name] as string, family);
    data.AuxAddresses = aux;
    return data;
  });
}

function networkOptions(fields: Fields): NetworkOptions {
  const options = fields.nested("Options");
  const raw: JsonObject = options?.object ?? {};
  const path = fields.at("Options");
  const flag = (key: string): boolean => {
    const value = raw[key];
    if (value === undefined || value === null) return false;
    if (typeof value !== "boolean") invalid(fields.call, `${path}[${JSON.stringify(key)}]`, value, "is not a boolean");
    return value;
  };
  const generic = raw[GENERIC_OPTION];
  return {
    enableIpv6: flag(ENABLE_IPV6_OPTION),
    internal: flag(INTERNAL_OPTION),
    generic:
      generic === undefined || generic === null
        ? {}
        : readStringMap(fields.call, `${path}[${JSON.stringify(GENERIC_OPTION)}]`, generic),
    raw,
  };
}

const PROTOCOLS: readonly number[] = [6, 17, 132];

function port(call: string, path: string, item: unknown): Fields {
  if (!isObject(item)) invalid(call, path, item, "is not an object");
  const fields = new Fields(call, path, item);
  const proto = fields.get("Proto");
  if (typeof proto !== "number" || !PROTOCOLS.includes(proto)) {
    invalid(call, fields.at("Proto"), proto, "is not 6 (tcp), 17 (udp) or 132 (sctp)");
  }
  return fields;
}

function optionalIp(fields: Fields, key: string): string {
  const value = fields.string(key);
  if (value !== "") checkIp(fields.call, fields.at(key), value);
  return value;
}

function portList(call: string, path: string, value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) invalid(call, path, value, "is not an array");
  return value;
}

function endpointOptions(fields: Fields): EndpointOptions {
  const options = fields.nested("Options");
  const raw: JsonObject = options?.object ?? {};
  const path = fields.at("Options");
  const mapPath = `${path}[${JSON.stringify(PORT_MAP_OPTION)}]`;
  const exposedPath = `${path}[${JSON.stringify(EXPOSED_PORTS_OPTION)}]`;
  const portBindings = portList(fields.call, mapPath, raw[PORT_MAP_OPTION]).map((item, index): PortBinding => {
    const entry = port(fields.call, `${mapPath}[${index}]`, item);
    return {
      Proto: entry.get("Proto") as PortProtocol,
      IP: optionalIp(entry, "IP"),
      Port: entry.integer("Port", 0, 65535, 0),
      HostIP: optionalIp(entry, "HostIP"),
      HostPort: entry.integer("HostPort", 0, 65535, 0),
      HostPortEnd: entry.integer("HostPortEnd", 0, 65535, 0),
    };
  });
  const exposedPorts = portList(fields.call, exposedPath, raw[EXPOSED_PORTS_OPTION]).map(
    (item, index): TransportPort => {
      const entry = port(fields.call, `${exposedPath}[${index}]`, item);
      return { Proto: entry.get("Proto") as PortProtocol, Port: entry.integer("Port", 0, 65535, 0) };
    },
  );
  const driverOptions: Record<string, string> = {};
  for (const key in raw) {
    const value = raw[key];
    if (typeof value === "string") driverOptions[key] = value;
  }
  return { portBindings, exposedPorts, driverOptions, raw };
}

function endpointInterface(fields: Fields): EndpointInterface {
  const nested = fields.nested("Interface");
  if (nested === undefined) return { Address: "", AddressIPv6: "", MacAddress: "" };
  const mac = nested.string("MacAddress");
  if (mac !== "" && !isMacAddress(mac)) invalid(fields.call, nested.at("MacAddress"), mac, "is not a MAC address");
  return {
    Address: nested.optionalCidr("Address", 4),
    AddressIPv6: nested.optionalCidr("AddressIPv6", 6),
    MacAddress: mac,
  };
}

/** Calls that take no arguments (Plugin.Activate, GetCapabilities, GetDefaultAddressSpaces): the body is ignored. */
export function parseEmptyRequest(_body: unknown): void {}

/** `NetworkDriver.CreateNetwork`. Options null → defaults; IPv6Data absent → []. */
export function parseCreateNetworkRequest(value: unknown): CreateNetworkRequest {
  const fields = body("CreateNetwork", value);
  return {
    NetworkID: fields.id("NetworkID"),
    Options: networkOptions(fields),
    IPv4Data: ipamData(fields, "IPv4Data", 4),
    IPv6Data: ipamData(fields, "IPv6Data", 6),
  };
}

/** `NetworkDriver.AllocateNetwork` (swarm managers): Options is a string map here. */
export function parseAllocateNetworkRequest(value: unknown): AllocateNetworkRequest {
  const fields = body("AllocateNetwork", value);
  return {
    NetworkID: fields.id("NetworkID"),
    Options: fields.stringMap("Options"),
    IPv4Data: ipamData(fields, "IPv4Data", 4),
    IPv6Data: ipamData(fields, "IPv6Data", 6),
  };
}

function networkRequest(call: string, value: unknown): NetworkRequest {
  return { NetworkID: body(call, value).id("NetworkID") };
}

/** `NetworkDriver.DeleteNetwork`. */
export function parseDeleteNetworkRequest(value: unknown): NetworkRequest {
  return networkRequest("DeleteNetwork", value);
}

/** `NetworkDriver.FreeNetwork`. */
export function parseFreeNetworkRequest(value: unknown): NetworkRequest {
  return networkRequest("FreeNetwork", value);
}

/** `NetworkDriver.CreateEndpoint`. Interface absent → every field "". */
export function parseCreateEndpointRequest(value: unknown): CreateEndpointRequest {
  const fields = body("CreateEndpoint", value);
  return {
    NetworkID: fields.id("NetworkID"),
    EndpointID: fields.id("EndpointID"),
    Interface: endpointInterface(fields),
    Options: endpointOptions(fields),
  };
}

function endpointRequest(call: string, value: unknown): EndpointRequest {
  const fields = body(call, value);
  return { NetworkID: fields.id("NetworkID"), EndpointID: fields.id("EndpointID") };
}

/** `NetworkDriver.EndpointOperInfo`. */
export function parseEndpointOperInfoRequest(value: unknown): EndpointRequest {
  return endpointRequest("EndpointOperInfo", value);
}

/** `NetworkDriver.DeleteEndpoint`. */
export function parseDeleteEndpointRequest(value: unknown): EndpointRequest {
  return endpointRequest("DeleteEndpoint", value);
}

/** `NetworkDriver.Leave`. */
export function parseLeaveRequest(value: unknown): EndpointRequest {
  return endpointRequest("Leave", value);
}

/** `NetworkDriver.RevokeExternalConnectivity`. */
export function parseRevokeExternalConnectivityRequest(value: unknown): EndpointRequest {
  return endpointRequest("RevokeExternalConnectivity", value);
}

/** `NetworkDriver.Join`. SandboxKey must be present (a path; its file may not exist yet). */
export function parseJoinRequest(value: unknown): JoinRequest {
  const fields = body("Join", value);
  return {
    NetworkID: fields.id("NetworkID"),
    EndpointID: fields.id("EndpointID"),
    SandboxKey: fields.requiredString("SandboxKey"),
    Options: endpointOptions(fields),
  };
}

/** `NetworkDriver.ProgramExternalConnectivity`. */
export function parseProgramExternalConnectivityRequest(value: unknown): ProgramExternalConnectivityRequest {
  const fields = body("ProgramExternalConnectivity", value);
  return {
    NetworkID: fields.id("NetworkID"),
    EndpointID: fields.id("EndpointID"),
    Options: endpointOptions(fields),
  };
}

function discoveryRequest(call: string, value: unknown): DiscoveryRequest {
  const fields = body(call, value);
  return {
    DiscoveryType: fields.integer("DiscoveryType", 0, 2 ** 31 - 1),
    DiscoveryData: fields.get("DiscoveryData") ?? null,
  };
}

/** `NetworkDriver.DiscoverNew`. DiscoveryData is passed through unchecked. */
export function parseDiscoverNewRequest(value: unknown): DiscoveryRequest {
  return discoveryRequest("DiscoverNew", value);
}

/** `NetworkDriver.DiscoverDelete`. */
export function parseDiscoverDeleteRequest(value: unknown): DiscoveryRequest {
  return discoveryRequest("DiscoverDelete", value);
}

/** `IpamDriver.RequestPool`. Pool and SubPool are "" or CIDRs of the family V6 names; Options null → {}. */
export function parseRequestPoolRequest(value: unknown): RequestPoolRequest {
  const fields = body("RequestPool", value);
  const v6 = fields.boolean("V6");
  const family = v6 ? 6 : 4;
  return {
    AddressSpace: fields.string("AddressSpace"),
    Pool: fields.optionalCidr("Pool", family),
    SubPool: fields.optionalCidr("SubPool", family),
    Options: fields.stringMap("Options"),
    V6: v6,
  };
}

/** `IpamDriver.ReleasePool`. */
export function parseReleasePoolRequest(value: unknown): ReleasePoolRequest {
  return { PoolID: body("ReleasePool", value).requiredString("PoolID") };
}

/** `IpamDriver.RequestAddress`. Address is "" or a plain IP (either family); Options null → {}. */
export function parseRequestAddressRequest(value: unknown): RequestAddressRequest {
  const fields = body("RequestAddress", value);
  return {
    PoolID: fields.requiredString("PoolID"),
    Address: optionalIp(fields, "Address"),
    Options: fields.stringMap("Options"),
  };
}

/** `IpamDriver.ReleaseAddress`. Address is a plain IP, required. */
export function parseReleaseAddressRequest(value: unknown): ReleaseAddressRequest {
  const fields = body("ReleaseAddress", value);
  const address = fields.requiredString("Address");
  checkIp(fields.call, "Address", address);
  return { PoolID: fields.requiredString("PoolID"), Address: address };
}

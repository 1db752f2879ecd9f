import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { IPAM_DRIVER_CALLS, NETWORK_DRIVER_CALLS } from "./calls.js";
import { isTsnetError } from "./error.js";
import {
  parseCreateEndpointRequest,
  parseCreateNetworkRequest,
  parseJoinRequest,
  parseReleaseAddressRequest,
  parseRequestAddressRequest,
  parseRequestPoolRequest,
} from "./parsers.js";
import {
  IPAM_DRIVER_FIXTURES,
  NETWORK_DRIVER_FIXTURES,
  SAMPLE_ENDPOINT_ID,
  SAMPLE_NETWORK_ID,
  SAMPLE_POOL_ID,
} from "./testing.js";

const N = SAMPLE_NETWORK_ID;
const E = SAMPLE_ENDPOINT_ID;

type AnyParse = (body: unknown) => unknown;
const PARSERS: Array<[name: string, parse: AnyParse, fixture: unknown]> = [
  ...Object.entries(NETWORK_DRIVER_CALLS).map(([name, call]): [string, AnyParse, unknown] => [
    `NetworkDriver.${name}`,
    call.parse,
    NETWORK_DRIVER_FIXTURES[name as keyof typeof NETWORK_DRIVER_FIXTURES],
  ]),
  ...Object.entries(IPAM_DRIVER_CALLS).map(([name, call]): [string, AnyParse, unknown] => [
    `IpamDriver.${name}`,
    call.parse,
    IPAM_DRIVER_FIXTURES[name as keyof typeof IPAM_DRIVER_FIXTURES],
  ]),
];

function rejects(parse: AnyParse, body: unknown, message?: string): void {
  try {
    parse(body);
  } catch (error) {
    assert.ok(isTsnetError(error), `not a TsnetError: ${String(error)}`);
    if (!isTsnetError(error)) return;
    assert.is(error.code, "INVALID_ARGUMENT");
    if (message !== undefined) assert.is(error.message, message);
    return;
  }
  assert.unreachable(`accepted ${JSON.stringify(body)}`);
}

const valid = suite("parsers: valid requests");

valid("every fixture parses", () => {
  for (const [name, parse, fixture] of PARSERS) {
    try {
      parse(fixture);
    } catch (error) {
      assert.unreachable(`${name}: ${String(error)}`);
    }
  }
});

valid("CreateNetwork splits Options into its known keys and keeps the raw map", () => {
  const request = parseCreateNetworkRequest(NETWORK_DRIVER_FIXTURES.CreateNetwork);
  assert.is(request.NetworkID, N);
  assert.equal(request.Options.generic, { foo: "bar", "com.docker.network.driver.mtu": "1400" });
  assert.is(request.Options.enableIpv6, true);
  assert.is(request.Options.internal, true);
  assert.equal(request.IPv4Data, [
    {
      AddressSpace: "LocalDefault",
      Pool: "10.99.0.0/24",
      Gateway: "10.99.0.1/24",
      AuxAddresses: { a: "10.99.0.5/24" },
    },
  ]);
  assert.equal(request.IPv6Data, [
    { AddressSpace: "LocalDefault", Pool: "fd00:99::/64", Gateway: "fd00:99::1/64", AuxAddresses: {} },
  ]);
});

valid("defaults: Options null, IPv6Data absent, Gateway empty", () => {
  const request = parseCreateNetworkRequest({
    NetworkID: N,
    Options: null,
    IPv4Data: [{ Pool: "10.0.0.0/8", Gateway: "" }],
  });
  assert.equal(request.Options, { enableIpv6: false, internal: false, generic: {}, raw: {} });
  assert.equal(request.IPv6Data, []);
  assert.equal(request.IPv4Data, [{ AddressSpace: "", Pool: "10.0.0.0/8", AuxAddresses: {} }]);
});

valid("field names match in any case, as Go's encoding/json does; unknown fields are ignored", () => {
  const request = parseCreateEndpointRequest({
    networkid: N,
    ENDPOINTID: E,
    interface: { address: "10.0.0.2/24" },
    Extra: [1, 2, 3],
  });
  assert.equal(request.Interface, { Address: "10.0.0.2/24", AddressIPv6: "", MacAddress: "" });
  assert.is(request.NetworkID, N);
  assert.equal(request.Options, { portBindings: [], exposedPorts: [], driverOptions: {}, raw: {} });
});

valid("CreateEndpoint reads ports and driver options", () => {
  const request = parseCreateEndpointRequest(NETWORK_DRIVER_FIXTURES.CreateEndpoint);
  assert.equal(request.Options.portBindings, [
    { Proto: 17, IP: "", Port: 90, HostIP: "127.0.0.1", HostPort: 9090, HostPortEnd: 9090 },
  ]);
  assert.equal(request.Options.exposedPorts, [
    { Proto: 17, Port: 91 },
    { Proto: 17, Port: 90 },
  ]);
  assert.equal(request.Options.driverOptions, {
    "com.docker.network.endpoint.macaddress": "AkKqu8zd",
    "tsnet.vlan": "7",
  });
});

valid("IPAM: Options null becomes {}, Address may be empty or either family", () => {
  assert.equal(parseRequestAddressRequest({ PoolID: SAMPLE_POOL_ID, Address: "", Options: null }), {
    PoolID: SAMPLE_POOL_ID,
    Address: "",
    Options: {},
  });
  assert.is(parseRequestAddressRequest({ PoolID: "p", Address: "fd00::5" }).Address, "fd00::5");
  assert.equal(parseRequestPoolRequest({ AddressSpace: "x", Pool: "", SubPool: "", Options: {}, V6: true }), {
    AddressSpace: "x",
    Pool: "",
    SubPool: "",
    Options: {},
    V6: true,
  });
  assert.is(parseRequestPoolRequest({ Pool: "fd00::/64", V6: true }).Pool, "fd00::/64");
});
valid.run();

const invalid = suite("parsers: invalid requests");

invalid("messages name the call, the field path and the value", () => {
  rejects(
    parseCreateEndpointRequest,
    { NetworkID: N, EndpointID: E, Interface: { Address: "10.0.0.300/24" } },
    'CreateEndpoint: Interface.Address "10.0.0.300/24" is not an IPv4 CIDR',
  );
  rejects(parseCreateNetworkRequest, { Options: {} }, "CreateNetwork: NetworkID is missing");
  rejects(parseCreateNetworkRequest, { NetworkID: 42 }, "CreateNetwork: NetworkID 42 is not a string");
  rejects(
    parseCreateNetworkRequest,
    { NetworkID: "abc" },
    'CreateNetwork: NetworkID "abc" is not a 64-character hex ID',
  );
  rejects(
    parseCreateNetworkRequest,
    { NetworkID: N, IPv4Data: [{ Pool: "10.0.0.0/24" }, { Pool: "fd00::/64" }] },
    'CreateNetwork: IPv4Data[1].Pool "fd00::/64" is not an IPv4 CIDR',
  );
  rejects(
    parseCreateNetworkRequest,
    { NetworkID: N, Options: { "com.docker.network.generic": { "com.docker.network.driver.mtu": 1400 } } },
    'CreateNetwork: Options["com.docker.network.generic"]["com.docker.network.driver.mtu"] 1400 is not a string',
  );
  rejects(
    parseJoinRequest,
    { NetworkID: N, EndpointID: E, SandboxKey: "/x", Options: { "com.docker.network.portmap": [{ Proto: 1 }] } },
    'Join: Options["com.docker.network.portmap"][0].Proto 1 is not 6 (tcp), 17 (udp) or 132 (sctp)',
  );
  rejects(
    parseReleaseAddressRequest,
    { PoolID: "p", Address: "10.0.0.2/24" },
    'ReleaseAddress: Address "10.0.0.2/24" is not an IP address',
  );
  rejects(
    parseRequestPoolRequest,
    { Pool: "10.0.0.0/24", V6: true },
    'RequestPool: Pool "10.0.0.0/24" is not an IPv6 CIDR',
  );
});

invalid("an empty body on a call that needs arguments is refused (Docker's retries send one)", () => {
  for (const [name, parse, fixture] of PARSERS) {
    if (fixture === undefined) continue;
    const short = name.slice(name.indexOf(".") + 1);
    rejects(parse, undefined, `${short}: request body is empty`);
  }
});

invalid("a table of bad bodies per call", () => {
  const cases: Array<[AnyParse, unknown]> = [
    [NETWORK_DRIVER_CALLS.CreateNetwork.parse, []],
    [NETWORK_DRIVER_CALLS.CreateNetwork.parse, "x"],
    [NETWORK_DRIVER_CALLS.CreateNetwork.parse, { NetworkID: N, IPv4Data: {} }],
    [NETWORK_DRIVER_CALLS.CreateNetwork.parse, { NetworkID: N, IPv4Data: [{ Pool: "" }] }],
    [
      NETWORK_DRIVER_CALLS.CreateNetwork.parse,
      { NetworkID: N, IPv4Data: [{ Pool: "10.0.0.0/24", Gateway: "10.0.0.1" }] },
    ],
    [
      NETWORK_DRIVER_CALLS.CreateNetwork.parse,
      { NetworkID: N, IPv4Data: [{ Pool: "10.0.0.0/24", AuxAddresses: { a: "x" } }] },
    ],
    [NETWORK_DRIVER_CALLS.CreateNetwork.parse, { NetworkID: N, Options: { "com.docker.network.enable_ipv6": "true" } }],
    [NETWORK_DRIVER_CALLS.CreateNetwork.parse, { NetworkID: N, Options: [] }],
    [NETWORK_DRIVER_CALLS.AllocateNetwork.parse, { NetworkID: N, Options: { a: 1 } }],
    [NETWORK_DRIVER_CALLS.DeleteNetwork.parse, { NetworkID: `${N}0` }],
    [NETWORK_DRIVER_CALLS.FreeNetwork.parse, { NetworkID: N.replace("4", "g") }],
    [NETWORK_DRIVER_CALLS.CreateEndpoint.parse, { NetworkID: N, EndpointID: E, Interface: { MacAddress: "02:42" } }],
    [
      NETWORK_DRIVER_CALLS.CreateEndpoint.parse,
      { NetworkID: N, EndpointID: E, Interface: { AddressIPv6: "10.0.0.1/24" } },
    ],
    [NETWORK_DRIVER_CALLS.CreateEndpoint.parse, { NetworkID: N, EndpointID: E, Interface: "x" }],
    [
      NETWORK_DRIVER_CALLS.CreateEndpoint.parse,
      { NetworkID: N, EndpointID: E, Options: { "com.docker.network.portmap": {} } },
    ],
    [NETWORK_DRIVER_CALLS.EndpointOperInfo.parse, { NetworkID: N }],
    [NETWORK_DRIVER_CALLS.DeleteEndpoint.parse, { EndpointID: E }],
    [NETWORK_DRIVER_CALLS.Join.parse, { NetworkID: N, EndpointID: E }],
    [
      NETWORK_DRIVER_CALLS.Join.parse,
      {
        NetworkID: N,
        EndpointID: E,
        SandboxKey: "/k",
        Options: { "com.docker.network.endpoint.exposedports": [{ Proto: 6, Port: 70000 }] },
      },
    ],
    [NETWORK_DRIVER_CALLS.Leave.parse, { NetworkID: N, EndpointID: 7 }],
    [NETWORK_DRIVER_CALLS.DiscoverNew.parse, { DiscoveryType: "1" }],
    [NETWORK_DRIVER_CALLS.DiscoverDelete.parse, {}],
    [
      NETWORK_DRIVER_CALLS.ProgramExternalConnectivity.parse,
      { NetworkID: N, EndpointID: E, Options: { "com.docker.network.portmap": [{ Proto: 6, HostIP: "x" }] } },
    ],
    [NETWORK_DRIVER_CALLS.RevokeExternalConnectivity.parse, { NetworkID: N, EndpointID: "" }],
    [IPAM_DRIVER_CALLS.RequestPool.parse, { Pool: "10.0.0.0/24", SubPool: "10.0.0.0" }],
    [IPAM_DRIVER_CALLS.RequestPool.parse, { V6: "false" }],
    [IPAM_DRIVER_CALLS.RequestPool.parse, { Options: { a: null } }],
    [IPAM_DRIVER_CALLS.ReleasePool.parse, { PoolID: "" }],
    [IPAM_DRIVER_CALLS.RequestAddress.parse, { Address: "10.0.0.1" }],
    [IPAM_DRIVER_CALLS.RequestAddress.parse, { PoolID: "p", Address: "10.0.0.1/24" }],
    [IPAM_DRIVER_CALLS.ReleaseAddress.parse, { PoolID: "p" }],
  ];
  for (const [parse, body] of cases) rejects(parse, body);
});

invalid("no input makes a parser throw anything but a TsnetError", () => {
  const mutations = PARSERS.filter(([, , fixture]) => fixture !== undefined);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: PARSERS.length - 1 }), fc.jsonValue(), (index, body) => {
      const [, parse] = PARSERS[index] as [string, AnyParse, unknown];
      try {
        parse(body);
      } catch (error) {
        assert.ok(isTsnetError(error) && error.code === "INVALID_ARGUMENT", String(error));
      }
    }),
    { numRuns: 2000 },
  );
  // mutations of valid fixtures: replace one value somewhere in the tree with random JSON
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: mutations.length - 1 }),
      fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
      fc.jsonValue(),
      (index, route, replacement) => {
        const [, parse, fixture] = mutations[index] as [string, AnyParse, unknown];
        const body = structuredClone(fixture);
        let node: unknown = body;
        for (let depth = 0; depth < route.length; depth++) {
          if (typeof node !== "object" || node === null) break;
          const keys = Object.keys(node);
          if (keys.length === 0) break;
          const key = keys[(route[depth] as number) % keys.length] as string;
          if (depth === route.length - 1) (node as Record<string, unknown>)[key] = replacement;
          else node = (node as Record<string, unknown>)[key];
        }
        try {
          parse(body);
        } catch (error) {
          assert.ok(isTsnetError(error) && error.code === "INVALID_ARGUMENT", String(error));
        }
      },
    ),
    { numRuns: 3000 },
  );
});
invalid.run();

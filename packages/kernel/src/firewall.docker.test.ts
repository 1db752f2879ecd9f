/**
 * DOCKER-USER in the root namespace, next to a running dockerd. Only our own chain (unique per run) and our
 * one tagged jump are ever added or removed; Docker's rules are compared before and after.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { FirewallNetwork } from "./firewall.js";
import type { FirewallNames } from "./firewall-render.js";
import { prefix, sh } from "./netns.test.helpers.js";
import { NftFirewall } from "./nft-firewall.js";

const names: FirewallNames = { table: prefix, chain: `${prefix.toUpperCase()}-FWD`, comment: prefix };
const network: FirewallNetwork = {
  id: "d".repeat(64),
  bridge: `${prefix}d`,
  subnets: ["10.96.0.0/24"],
  internal: false,
  masquerade: true,
  icc: true,
  publishes: [{ proto: "tcp", hostIp: "", hostPort: 18080, containerIp: "10.96.0.2", containerPort: 80 }],
};
const firewall = new NftFirewall({ names, sysctls: false });
let dockerForward = "";
let dockerUserBefore = "";

const listChain = async (chain: string) => (await sh(`iptables -w -S ${chain}`)).stdout;
const withoutOurs = (listing: string) =>
  listing
    .split("\n")
    .filter((line) => !line.includes(names.chain))
    .join("\n");

const docker = suite("NftFirewall with a running dockerd (root namespace)");

docker.before(async () => {
  const user = await sh("iptables -w -S DOCKER-USER");
  assert.is(user.code, 0, "dockerd must be running: no DOCKER-USER chain in table ip filter");
  dockerUserBefore = user.stdout;
  dockerForward = await listChain("FORWARD");
});

docker.after(async () => {
  await firewall.flush().catch(() => {});
});

docker("puts one tagged jump to our chain at the top of DOCKER-USER, with our accepts in it", async () => {
  await firewall.apply([network]);
  const user = (await listChain("DOCKER-USER")).split("\n");
  assert.is(user[1], `-A DOCKER-USER -m comment --comment ${prefix} -j ${names.chain}`);
  const ours = await listChain(names.chain);
  assert.match(ours, new RegExp(`-A ${names.chain} -i ${network.bridge} ! -o ${network.bridge} .*-j ACCEPT`));
  assert.match(ours, /-d 10\.96\.0\.2\/32 .*--dport 80 .*-j ACCEPT/);
});

docker("leaves Docker's own rules as they were", async () => {
  assert.is(withoutOurs(await listChain("DOCKER-USER")), withoutOurs(dockerUserBefore));
  assert.is(await listChain("FORWARD"), dockerForward);
});

docker("restores a removed jump, and reports nothing to do when all is in place", async () => {
  assert.is(await firewall.ensureDockerUser(), false);
  await sh(`iptables -w -D DOCKER-USER -m comment --comment ${prefix} -j ${names.chain}`);
  assert.is(await firewall.ensureDockerUser(), true);
  assert.match(await listChain("DOCKER-USER"), new RegExp(`-j ${names.chain}`));
});

docker("flush removes our jump, our chain and our nft tables, and nothing else", async () => {
  await firewall.flush();
  assert.not.match(await listChain("DOCKER-USER"), new RegExp(names.chain));
  assert.is((await sh(`iptables -w -S ${names.chain}`)).code !== 0, true);
  assert.not.match((await sh("nft list tables")).stdout, new RegExp(prefix));
  assert.is(await listChain("DOCKER-USER"), dockerUserBefore);
});

docker.run();

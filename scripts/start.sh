#!/usr/bin/env bash
# Fresh-machine command 1: install what the daemon needs, build, and run the tsnet daemon in the foreground.
#
#   bash scripts/start.sh                      # socket /run/docker/plugins/tsnet.sock, state in /var/lib/tsnet
#   bash scripts/start.sh --socket /run/docker/plugins/other.sock --state-dir /tmp/other
#
# Arguments are passed to `tsnet serve`. Stop it with Ctrl-C or SIGTERM.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=lib/setup.sh
. scripts/lib/setup.sh

require_root
require_node
# The kernel layer talks rtnetlink itself but applies firewall batches with `nft -f -`; iptables-nft and
# iproute2 are there for Docker's DOCKER-USER chain and for looking at what the daemon made.
apt_install nftables iptables iproute2
ensure_pnpm
install_dependencies
say "pnpm build"
pnpm build >/tmp/tsnet-build.log 2>&1 || { cat /tmp/tsnet-build.log >&2; die "build failed"; }
say "starting the daemon (Ctrl-C stops it)"
# exec node directly so SIGTERM/SIGINT reach the daemon itself (same as `pnpm tsnet serve`).
exec node packages/cli/dist/main.js serve "$@"

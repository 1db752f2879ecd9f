#!/usr/bin/env bash
# Fresh-machine command 2: install what the tests need, make sure a Docker Engine answers, and run every test
# of every package. The last line printed is `N passed, N failed` (from scripts/test-all.mjs).
#
#   bash scripts/test.sh            # extra arguments go to scripts/test-all.mjs, e.g. --only=packages/ipam
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=lib/setup.sh
. scripts/lib/setup.sh

require_root
require_node
# docker.io: the end-to-end tests; busybox-static: the test image (docker import, no registry); nftables,
# iptables, iproute2: the kernel layer and its tests; util-linux: unshare/nsenter for kernel tests in a fresh
# netns; etcd-server: the multi-host store tests; ca-certificates keeps apt/npm quiet about TLS.
packages=(busybox-static nftables iptables iproute2 util-linux ca-certificates)
# A Docker Engine or etcd installed some other way (docker-ce, a release tarball) is used as it is.
[ -x /usr/bin/docker ] && [ -x /usr/sbin/dockerd ] || packages+=(docker.io)
command -v etcd >/dev/null 2>&1 || packages+=(etcd-server)
apt_install "${packages[@]}"
ensure_pnpm
install_dependencies

ensure_dockerd

exec node scripts/test-all.mjs "$@"

# Shared by scripts/start.sh and scripts/test.sh: install what is missing, quietly and idempotently.
# Sourced, not run. Expects Debian 12, root, Node 20 and npm.

PNPM_VERSION="12.4.2"
export DEBIAN_FRONTEND=noninteractive
export TURBO_TELEMETRY_DISABLED=1
# node-gyp under pnpm downloads Node's headers unless told where they are (TOOLCHAIN.md).
export npm_config_nodedir="${npm_config_nodedir:-/usr}"

say() { printf '[tsnet] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

require_root() {
  [ "$(id -u)" -eq 0 ] || die "run this as root (it installs Debian packages and programs the kernel)"
}

require_node() {
  command -v node >/dev/null 2>&1 || die "Node.js 20 or newer is needed (not found)"
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  [ "$major" -ge 20 ] || die "Node.js 20 or newer is needed (found $(node -v))"
  command -v npm >/dev/null 2>&1 || die "npm is needed to install pnpm (not found)"
}

APT_UPDATED=""
# apt_install PACKAGE... : installs the Debian packages that are not installed yet; nothing to do = no apt call.
apt_install() {
  local missing=() package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  if [ -z "$APT_UPDATED" ]; then
    apt-get update -qq >/dev/null || die "apt-get update failed"
    APT_UPDATED=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
}

# pnpm pinned to the packageManager version. corepack fails on this registry (no signatures), so use npm;
# --force replaces a corepack shim if there is one (TOOLCHAIN.md).
ensure_pnpm() {
  if command -v pnpm >/dev/null 2>&1 && [ "$(pnpm --version 2>/dev/null)" = "$PNPM_VERSION" ]; then
    return 0
  fi
  say "installing pnpm $PNPM_VERSION"
  npm install --global --force --silent --no-fund --no-audit "pnpm@$PNPM_VERSION" >/dev/null || die "npm install pnpm failed"
  hash -r
  [ "$(pnpm --version)" = "$PNPM_VERSION" ] || die "pnpm $PNPM_VERSION is not the pnpm on PATH ($(command -v pnpm))"
}

install_dependencies() {
  say "pnpm install --frozen-lockfile"
  CI=true pnpm install --frozen-lockfile --reporter=append-only >/tmp/tsnet-pnpm-install.log 2>&1 ||
    { cat /tmp/tsnet-pnpm-install.log >&2; die "pnpm install failed"; }
}

# A Docker Engine for the *.docker.test.ts suites: reuse one that answers `docker info`, else start dockerd in its own
# session (it outlives this script and is not in the test runner's process group), log to a file, and wait up to 60 s.
# Always the Debian binaries in /usr/bin (TOOLCHAIN.md); DOCKER_BIN/DOCKERD_BIN exist only to test this function.
ensure_dockerd() {
  local docker="${DOCKER_BIN:-/usr/bin/docker}" dockerd="${DOCKERD_BIN:-/usr/sbin/dockerd}"
  local log="${DOCKERD_LOG:-/var/log/tsnet-dockerd.log}"
  if ! "$docker" info >/dev/null 2>&1; then
    say "starting dockerd (log: $log)"
    setsid "$dockerd" >"$log" 2>&1 </dev/null &
    local _
    for _ in $(seq 1 120); do
      "$docker" info >/dev/null 2>&1 && break
      sleep 0.5
    done
    "$docker" info >/dev/null 2>&1 || { tail -n 30 "$log" >&2; die "dockerd did not answer within 60 s"; }
  fi
  say "Docker Engine $("$docker" version --format '{{.Server.Version}}' 2>/dev/null) answers"
}

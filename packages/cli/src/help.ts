/** Help texts: usage line, description, options, examples; printed on stdout by `--help` (exit 0). */
import { DEFAULT_ADMIN_SOCKET, DEFAULT_CONFIG_FILE, DEFAULT_MTU, DEFAULT_SOCKET, DEFAULT_STATE_DIR } from "./config.js";
import { LOG_LEVELS } from "./logger.js";

const CLIENT_OPTIONS = `  --admin-socket PATH  Daemon's admin socket (default: ${DEFAULT_ADMIN_SOCKET}; env TSNET_ADMIN_SOCKET)
  --config PATH        Read the admin socket path from this config file (default: ${DEFAULT_CONFIG_FILE} if present)
  --json               Print JSON instead of a table
  -h, --help           Show this help`;

const EXIT_CODES = `Exit codes:
  0  success
  1  failure (e.g. the daemon is not running)
  2  usage or configuration error`;

export const HELP: Record<"main" | "serve" | "status" | "ls" | "ipam" | "doctor" | "gc", string> = {
  main: `Usage: tsnet <command> [options]

Docker network and IPAM plugin (libnetwork remote driver protocol), and tools to inspect and repair it.

Commands:
  serve          Run the plugin daemon in the foreground
  status         Show the running daemon's status
  ls             List networks, endpoints and pools with usage
  ipam show      Show one network's pools and allocated addresses
  doctor         Check the host for what breaks network plugins
  gc             Remove tsnet links and rules no network owns (dry run by default)
  help COMMAND   Show a command's help

Options:
  -h, --help     Show this help
  -v, --version  Show the version

Run 'tsnet <command> --help' for a command's options.

${EXIT_CODES}
`,
  serve: `Usage: tsnet serve [options]

Run the plugin daemon in the foreground. Docker finds a v1 plugin by its socket; the plugin's name is the
socket's file name without ".sock" (use it with 'docker network create -d NAME --ipam-driver NAME').
Settings come from flags, then TSNET_* environment variables, then the config file, then defaults.
Stops cleanly on SIGTERM or SIGINT.

Options:
  --config PATH                 JSON config file (default: ${DEFAULT_CONFIG_FILE} if present; env TSNET_CONFIG)
  --socket PATH                 Plugin socket (default: ${DEFAULT_SOCKET}; env TSNET_SOCKET)
  --admin-socket PATH           Admin socket, mode 0600 (default: ${DEFAULT_ADMIN_SOCKET}; env TSNET_ADMIN_SOCKET)
  --state-dir DIR               Persistent state (default: ${DEFAULT_STATE_DIR}; env TSNET_STATE_DIR)
  --log-level LEVEL             ${LOG_LEVELS.join(", ")} (default: info; env TSNET_LOG_LEVEL)
  --plugin-name NAME            Name Docker knows the plugin by (default: from the socket; env TSNET_PLUGIN_NAME)
  --mtu N                       Bridge MTU when a network sets none (default: ${DEFAULT_MTU}; env TSNET_MTU)
  --default-address-pool base=CIDR,size=N
                                A default pool (repeatable; env TSNET_DEFAULT_ADDRESS_POOLS, ';'-separated)
  -h, --help                    Show this help

Logs are JSON lines on stderr.

Examples:
  tsnet serve
  tsnet serve --socket /run/docker/plugins/tsnet.sock --state-dir /var/lib/tsnet --log-level debug
  TSNET_LOG_LEVEL=warn tsnet serve --config /etc/tsnet/config.json
  tsnet serve --default-address-pool base=10.10.0.0/16,size=24

${EXIT_CODES}
`,
  status: `Usage: tsnet status [options]

Show the running daemon's version, pid, uptime, plugin name, sockets, state dir and counts.

Options:
${CLIENT_OPTIONS}

Examples:
  tsnet status
  tsnet status --json | jq .counts

${EXIT_CODES}
`,
  ls: `Usage: tsnet ls [options]

List the daemon's networks, their endpoints, and the IPAM pools with addresses used and free.

Options:
${CLIENT_OPTIONS}

Examples:
  tsnet ls
  tsnet ls --json | jq '.pools[] | {poolId, free}'

${EXIT_CODES}
`,
  ipam: `Usage: tsnet ipam show NETWORK [options]

Show the pools of one network and every address allocated in them. NETWORK is a NetworkID (or a prefix of at
least 4 characters), a PoolID, a subnet, or a Docker network name (resolved through the Docker API; the plugin
itself never learns names).

Options:
  --docker-socket PATH Docker API socket for name lookups (default: /var/run/docker.sock)
${CLIENT_OPTIONS}

Examples:
  tsnet ipam show mynet
  tsnet ipam show 4c0d6e1f2a3b
  tsnet ipam show 10.20.0.0/24 --json

${EXIT_CODES}
`,
  doctor: `Usage: tsnet doctor [options]

Check what breaks network plugins in practice: kernel features (bridge, veth, nftables), Docker's FORWARD
policy and DOCKER-USER (with tsnet's jump when networks exist), bridge-nf-call-iptables, ip_forward, socket
permissions (plugin 0660, admin 0600), the state dir lock, and leftovers. Prints what to do for each problem.

Options:
  --socket PATH        Plugin socket to check when the daemon does not answer (default: ${DEFAULT_SOCKET})
  --state-dir DIR      State dir to check when the daemon does not answer (default: ${DEFAULT_STATE_DIR})
${CLIENT_OPTIONS}

Examples:
  tsnet doctor
  tsnet doctor --json

Exit codes:
  0  no problem found
  1  at least one problem found
  2  usage or configuration error
`,
  gc: `Usage: tsnet gc [--apply] [options]

Find tsnet links (tsbr-, tsve-, tsvp-, tsvq-), nftables tables and DOCKER-USER jumps that no stored network
owns. Dry run by default: prints what would go. With --apply they are removed. When the daemon runs, it does
the work (ask over the admin socket); an orphan must still be one after --settle-ms (default 11000: longer than
a plugin call can take, so nothing being created is removed). When the daemon is stopped, --offline reads the
state dir itself (refused while a daemon holds it).

Options:
  --apply              Remove what was found
  --offline            Work without the daemon, from the state dir
  --state-dir DIR      State dir for --offline (default: ${DEFAULT_STATE_DIR}; env TSNET_STATE_DIR)
  --settle-ms N        How long an orphan must stay one before it is removed (0-60000)
${CLIENT_OPTIONS}

Examples:
  tsnet gc
  tsnet gc --apply
  tsnet gc --offline --apply --state-dir /var/lib/tsnet

${EXIT_CODES}
`,
};

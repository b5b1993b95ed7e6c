/**
 * The top level of the `netkeeper` command tree as data: the program's description, its options and the
 * command groups with the description each gives itself. program.ts builds the commander tree from it, and
 * help.ts prints `netkeeper --help` from it without loading commander or any group (docs/cli.md#start-up).
 * Nothing here imports anything: run.ts loads it before the command tree.
 */

export const PROGRAM_NAME = 'netkeeper'

export const PROGRAM_DESCRIPTION = 'Netkeeper: IP address management, LDAP directory and audit trail, from the command line'

/** The program's own options, in the order --help lists them (between --version and --help). */
export const PROGRAM_OPTIONS: readonly { flags: string; description: string }[] = [
  { flags: '--database-url <url>', description: 'PostgreSQL URL (overrides NETKEEPER_DATABASE_URL, the saved connections and the embedded default)' },
  {
    flags: '--db-profile <name>',
    description: 'saved database connection to use, or "embedded" (as --profile; the spelling that also works with user and group, whose --profile is the LDAP profile)'
  },
  { flags: '--data-dir <dir>', description: 'data folder (overrides NETKEEPER_DATA_DIR)' },
  { flags: '--json', description: 'machine-readable output' },
  { flags: '--no-queue', description: 'fail instead of queueing an edit when the database server is unreachable (see `netkeeper queue`)' }
]

/**
 * The top-level commands in the order --help lists them, with the description each group gives itself (a test
 * checks they agree) and its arguments where the group is one command (`completion <shell>`).
 */
export const TOP_COMMANDS: readonly { name: string; args?: string; description: string }[] = [
  { name: 'db', description: 'database migrations and health' },
  { name: 'pool', description: 'IP pools' },
  { name: 'ip', description: 'addresses: allocate, reserve, block, update, release, show, search' },
  { name: 'ipam', description: 'IPAM overview' },
  { name: 'space', description: 'address spaces (VRFs): the same prefix may exist once in each' },
  { name: 'range', description: 'ranges inside a pool: next free skips dhcp and reserved ones; an address in a dhcp range needs --force' },
  { name: 'vlan', description: 'VLANs (VID 1-4094, unique within a VLAN group) that pools point at' },
  { name: 'site', description: 'sites that pools point at' },
  { name: 'tag', description: 'tags (name, colour) on pools and allocations' },
  { name: 'field', description: 'custom fields on pools and allocations, checked by the database server' },
  { name: 'audit', description: 'the tamper-evident audit trail' },
  { name: 'profile', description: 'LDAP connection profiles (secrets in the OS keychain, never on disk)' },
  { name: 'user', description: 'LDAP users (inetOrgPerson + posixAccount + shadowAccount)' },
  { name: 'group', description: 'LDAP groups (posixGroup, groupOfNames, rfc2307bis)' },
  { name: 'ldif', description: 'LDIF (RFC 2849) export and import' },
  { name: 'template', description: "the LDAP profile's template for new users (UI, user create, user import)" },
  { name: 'entry', description: 'any directory entry: every attribute, driven by the server schema' },
  { name: 'import', description: 'bring data across from other tools' },
  { name: 'queue', description: 'edits queued while the database server was unreachable: list, replay, conflicts, retry, cancel' },
  { name: 'outbox', description: 'side effects outside the database (DNS updates, DHCP reservations): status, run the worker, retry, ignore' },
  { name: 'dns', description: 'DNS: name servers, zones, records that follow allocations, drift' },
  { name: 'dhcp', description: 'DHCP: Kea host reservations that follow allocations, leases, drift' },
  { name: 'completion', args: '<shell>', description: 'print a shell completion script (bash, zsh or fish); see docs/cli.md#completion' }
]

/**
 * The fixed lists of values that options, forms and schemas choose from. They live apart from the zod
 * schemas (which re-export them beside the types built on them) so that the command line can describe
 * every option, for `--help`, without loading zod (docs/cli.md#start-up).
 */
export const AUDIT_ACTIONS = ['create', 'read', 'update', 'delete', 'login', 'logout', 'authenticate', 'authorize', 'error'] as const
export const AUDIT_STATUSES = ['success', 'failure', 'warning'] as const
export const AUDIT_SOURCES = ['ui', 'cli', 'import', 'replay'] as const
export const EXPORT_FORMATS = ['csv', 'json', 'jsonl'] as const

export const GROUP_TYPES = ['posixGroup', 'groupOfNames', 'rfc2307bis'] as const
/** `group bulk` actions (the same list as GROUP_BULK_ACTIONS in directory-admin.ts, kept here so --help loads no zod). */
export const GROUP_BULK_CHOICES = ['addMembers', 'removeMembers', 'delete'] as const
export const LOCK_METHODS = ['ppolicy', 'shadow'] as const

export const CONFLICT_MODES = ['skip', 'rename', 'merge', 'fail'] as const
export const TYPE_TARGETS = ['allocated', 'dhcp', 'reserved', 'blocked', 'skip'] as const
export const REPORT_FORMATS = ['json', 'csv'] as const

export const QUEUE_STATES = ['queued', 'applied', 'conflict', 'cancelled'] as const

export const SSL_MODES = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full'] as const

/** The Netkeeper roles an owner grants a server login (docs/postgresql-setup.md#roles). */
export const GRANTABLE_ROLES = ['viewer', 'operator', 'admin'] as const


/** The name of the embedded store among the saved database connections. */
export const EMBEDDED_CONNECTION = 'embedded'

/** Audit forwarding: the syslog line formats and facilities (RFC 5424 numbers). */
export const SYSLOG_FORMATS = ['rfc5424', 'cef'] as const

/** RFC 5424 facilities by name, with their codes. */
export const SYSLOG_FACILITIES = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11, ntp: 12, audit: 13, alert: 14, clock: 15,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23
} as const

/** DNS: the TSIG algorithms a name server key may use (hmac-sha256 or stronger). */
export const TSIG_ALGORITHMS = ['hmac-sha256', 'hmac-sha384', 'hmac-sha512'] as const

/** The states of a side effect in the outbox (core/outbox). */
export const OUTBOX_STATES = ['pending', 'done', 'conflict', 'failed', 'ignored'] as const

export const VLAN_STATUSES = ['active', 'reserved', 'deprecated'] as const
export const FIELD_KINDS = ['pool', 'allocation'] as const
export const FIELD_TYPES = ['text', 'integer', 'boolean', 'choice', 'date', 'url'] as const
/** IPAM CSV in and out (docs/ipam.md#csv-in-and-out): what a file holds, whose export it is, what an existing key does. */
export const CSV_KINDS = ['pools', 'allocations'] as const
export const CSV_PRESETS = ['netkeeper', 'phpipam', 'netbox'] as const
export const CSV_ON_EXISTING = ['skip', 'update'] as const

/** What an address range of a pool is for (ipam.ts builds its schema on it). */
export const RANGE_PURPOSES = ['dhcp', 'reserved', 'infrastructure', 'other'] as const

/** `ldif export --scope`. */
export const LDIF_SCOPES = ['base', 'one', 'sub'] as const
/** What a user import does with an entry that exists already. */
export const ON_EXISTING = ['skip', 'update'] as const
/** `user bulk` actions. */
export const BULK_ACTIONS = ['lock', 'unlock', 'addToGroup', 'removeFromGroup', 'setExpiry', 'delete'] as const
/** What happens to a person's addresses when the person is retired. */
export const ADDRESS_CHOICES = ['release', 'handover', 'keep'] as const

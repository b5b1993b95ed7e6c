/**
 * The one IPC contract. Every channel is named here once, with the schema its argument must satisfy and
 * the type of its result. The main-side handler table, the preload invoker, the browser test bridge and the
 * renderer api module are all derived from this object, so a renamed channel or field fails the type
 * check on both sides.
 *
 * Imports nothing from node, electron or vue (enforced by eslint).
 */
import { z } from 'zod'
import type { ErrorPayload } from './errors'
import type { AppInfo, ConnectionList, DbProfileView, HealthReport, MigrationState, RemoveConnectionResult, ServerConnectionView, SwitchResult } from './types'
import { connectionNameSchema, dbProfileSchema } from './schemas'
import {
  allocateSchema,
  allocationUpdateSchema,
  bulkHoldSchema,
  bulkReleaseSchema,
  mergeSchema,
  nextBlockSchema,
  fieldName,
  poolCreateSchema,
  poolListSchema,
  poolRef,
  poolTreeSchema,
  poolUpdateSchema,
  rangeCreateSchema,
  searchSchema,
  spaceCreateSchema,
  spaceRef,
  spaceUpdateSchema,
  splitSchema,
  type AllocationDto,
  type BulkResult,
  type MergeResult,
  type PoolTreeNode,
  type RangeDto,
  type SpaceDto,
  type SplitResult,
  type IpamStats,
  type PoolFacets,
  type Page,
  type PoolDeleteResult,
  type PoolDto,
  type PoolMap,
  type StaleMark
} from './ipam'
import {
  forwardInAppSchema,
  sinkAddSchema,
  sinkEnableSchema,
  sinkRefSchema,
  type ForwardStatus,
  type SinkAddResult,
  type SinkDto,
  type SinkTestResult
} from './audit-forward'
import {
  anchorSettingsSchema,
  archiveDirSchema,
  auditFilterSchema,
  auditListSchema,
  policySetSchema,
  type AnchorSettings,
  type ArchiveSettings,
  type AuditCounts,
  type AuditEntryDto,
  type AuditPage,
  type PurgeOutlook,
  type PurgeReport,
  type RetentionPolicyDto,
  type VerifyReport
} from './audit'
import {
  auditExportSchema,
  exportRunRefSchema,
  openFileSchema,
  type AuditExportProgress,
  type AuditExportResult,
  type OpenFileResult
} from './files'
import { queueIdSchema, queueListSchema, queueRetrySchema, type OfflineStateDto, type OrQueued, type QueueEntryDto, type ReplayReport } from './offline'
import {
  importAnalyseSchema,
  importRunSchema,
  REPORT_FORMATS,
  type ImportAnalysis,
  type ImportProgress,
  type ImportReport,
  type ReportFile
} from './importer'
import {
  dnsServerAddSchema,
  dnsZoneAddSchema,
  driftRepairSchema,
  poolDnsSchema,
  recordListSchema,
  type PoolDnsDto,
  type DnsDriftReport,
  type DnsRecordDto,
  type DnsRepairResult,
  type DnsServerDto,
  type DnsServerTest,
  type DnsZoneDto
} from './dns'
import {
  dhcpDriftRepairSchema,
  dhcpServerAddSchema,
  poolDhcpSchema,
  type DhcpDriftReport,
  type DhcpRepairResult,
  type DhcpServerDto,
  type DhcpServerTest,
  type KeaSubnetChoices,
  type PoolDhcpDto
} from './dhcp'
import {
  groupCreateSchema,
  groupRefSchema,
  groupUpdateSchema,
  listSchema,
  membersSchema,
  passwordSetSchema,
  profileSaveSchema,
  signInSchema,
  userCreateSchema,
  userRef,
  userRenameSchema,
  userUpdateSchema,
  type DirectoryPage,
  type GroupDeleteResult,
  type GroupDto,
  type LdapProfileDto,
  type LockResult,
  type MembersResult,
  type PasswordSetResult,
  type ProfileTestReport,
  type SessionDto,
  type UserDeleteResult,
  type UserDto,
  type UserRenameResult
} from './directory'
import {
  bulkSchema,
  groupBulkSchema,
  ldifImportSchema,
  type GroupBulkResult,
  type LdifImportReport,
  type DirectoryJobProgress,
  entryRefSchema,
  entrySetSchema,
  expiringSchema,
  expirySchema,
  objectClassChangeSchema,
  treeListSchema,
  userImportSchema,
  userTemplateSchema,
  type BulkResult as DirectoryBulkResult,
  type EntryDetail,
  type ExpiringAccount,
  type ExpiryResult,
  type PasswordPolicy,
  retireSchema,
  type PersonAddressesDto,
  type ResolvedUserTemplate,
  type RetireResultDto,
  type TreeNode,
  type UserImportReport
} from './directory-admin'
import {
  csvExportSchema,
  csvImportSchema,
  csvRunRefSchema,
  type CsvExportFileResult,
  type CsvExportProgress,
  type CsvImportReport,
  type CsvProgress
} from './ipam-csv'
import { paletteSearchSchema, type PaletteResults } from './palette'
import { bulkEditSchema, ipTagEditSchema, objectEditSchema, type BulkEditResult, type IpamObjects } from './ipam-objects'
import { thresholdSetSchema, usageHistorySchema, type PoolLevel, type Thresholds, type UsageAlerts, type UsageHistory } from './usage'

/** A phantom marker that carries a result type without a runtime value. */
const result = <T>(): T => undefined as unknown as T

const noArgs = z.object({}).strict()
/** A DNS or DHCP server by its name. */
const serverNameArgs = z.object({ name: z.string().trim().min(1, 'is required').max(100) }).strict()

/** A read that may be answered from the offline snapshot (then `stale` says as of when). */
type Stale<T> = T & { stale?: StaleMark }

export const contract = {
  'app:info': { args: noArgs, result: result<AppInfo>() },
  'db:health': { args: noArgs, result: result<HealthReport>() },
  'db:status': { args: noArgs, result: result<MigrationState>() },
  'settings:db:get': { args: noArgs, result: result<DbProfileView | null>() },
  'settings:db:test': {
    args: z.object({ profile: dbProfileSchema, password: z.string().max(1024).optional() }).strict(),
    result: result<HealthReport>()
  },
  'settings:db:save': {
    args: z.object({ profile: dbProfileSchema, password: z.string().max(1024).optional() }).strict(),
    result: result<DbProfileView>()
  },
  'settings:db:clear': { args: noArgs, result: result<{ removed: boolean }>() },
  // Connections (Settings › Connections): the embedded store and saved servers. Testing, saving, removing
  // and switching are admin actions (of the signed-in person when there is one); a saved password is sent
  // only to the endpoint and TLS mode it was saved for. `previousName`: the saved connection being edited.
  'settings:connection:list': { args: noArgs, result: result<ConnectionList>() },
  'settings:connection:test': {
    args: z.object({ profile: dbProfileSchema, password: z.string().max(1024).optional(), previousName: connectionNameSchema.optional() }).strict(),
    result: result<HealthReport>()
  },
  'settings:connection:save': {
    args: z
      .object({ profile: dbProfileSchema, password: z.string().max(1024).optional(), previousName: connectionNameSchema.optional(), create: z.boolean().optional() })
      .strict(),
    result: result<ServerConnectionView>()
  },
  'settings:connection:remove': { args: z.object({ name: connectionNameSchema }).strict(), result: result<RemoveConnectionResult>() },
  /** Reopens the app on a saved connection (or `embedded`) without a restart; it is active from then on. */
  'settings:connection:switch': {
    args: z.object({ name: z.string().trim().min(1, 'is required').max(64, 'must be at most 64 characters') }).strict(),
    result: result<SwitchResult>()
  },
  /** Shared by every desktop on the database (app_settings); setting it is an admin's, in the server too. */
  'settings:security:get': { args: noArgs, result: result<{ requireSignIn: boolean }>() },
  'settings:security:set': { args: z.object({ requireSignIn: z.boolean() }).strict(), result: result<{ requireSignIn: boolean }>() },
  /** This installation's audit archive folder (settings.json); setting it is an admin's. */
  'settings:audit:get': { args: noArgs, result: result<ArchiveSettings>() },
  'settings:audit:set': { args: archiveDirSchema, result: result<ArchiveSettings>() },

  'ipam:pool:list': { args: poolListSchema, result: result<Page<PoolDto>>() },
  'ipam:pool:get': { args: z.object({ pool: poolRef }).strict(), result: result<Stale<PoolDto>>() },
  'ipam:pool:create': { args: poolCreateSchema, result: result<OrQueued<PoolDto>>() },
  'ipam:pool:update': { args: z.object({ pool: poolRef, changes: poolUpdateSchema }).strict(), result: result<OrQueued<PoolDto>>() },
  'ipam:pool:delete': { args: z.object({ pool: poolRef, force: z.boolean().optional() }).strict(), result: result<OrQueued<PoolDeleteResult>>() },
  'ipam:pool:allocations': {
    args: z
      .object({
        pool: poolRef,
        page: z.number().int().min(1).optional(),
        pageSize: z.number().int().min(1).max(65536).optional(),
        sort: z.enum(['ip', 'hostname', 'owner', 'status', 'updated']).optional(),
        order: z.enum(['asc', 'desc']).optional(),
        status: z.enum(['allocated', 'reserved', 'blocked', 'lapsed']).optional(),
        search: z.string().trim().max(200).optional(),
        /** Only allocations whose custom fields hold these values (name -> value as text). */
        fields: z.record(fieldName, z.string().max(1000)).optional(),
        /** Order by this custom field's value instead of `sort` (rows without a value last; ties by address). */
        sortField: fieldName.optional()
      })
      .strict(),
    result: result<Page<AllocationDto>>()
  },
  'ipam:pool:map': { args: z.object({ pool: poolRef }).strict(), result: result<PoolMap>() },
  'ipam:allocate': { args: allocateSchema, result: result<OrQueued<AllocationDto[]>>() },
  'ipam:allocation:get': { args: z.object({ ip: z.string().trim().min(1).max(64), space: spaceRef.optional() }).strict(), result: result<Stale<AllocationDto>>() },
  'ipam:allocation:update': { args: allocationUpdateSchema, result: result<OrQueued<AllocationDto>>() },
  'ipam:release': {
    args: z.object({ ip: z.string().trim().min(1).max(64), version: z.number().int().positive().optional(), space: spaceRef.optional() }).strict(),
    result: result<OrQueued<AllocationDto>>()
  },
  'ipam:search': { args: searchSchema, result: result<Page<AllocationDto> & { kind: string }>() },
  /** Reserve or block a run of addresses, or release a run or a list: one request, one transaction. */
  'ipam:hold-range': { args: bulkHoldSchema, result: result<OrQueued<BulkResult>>() },
  'ipam:release-many': { args: bulkReleaseSchema, result: result<OrQueued<BulkResult>>() },
  'ipam:space:list': { args: noArgs, result: result<SpaceDto[]>() },
  'ipam:space:create': { args: spaceCreateSchema, result: result<OrQueued<SpaceDto>>() },
  'ipam:space:update': { args: z.object({ space: spaceRef, changes: spaceUpdateSchema }).strict(), result: result<OrQueued<SpaceDto>>() },
  'ipam:space:delete': { args: z.object({ space: spaceRef }).strict(), result: result<OrQueued<SpaceDto>>() },
  /** The tree: roots of a space (or a pool's subtree) and the children of the expanded pools, a page at a time. */
  'ipam:pool:tree': {
    args: poolTreeSchema.extend({ expanded: z.array(z.number().int().positive()).max(10000).optional() }).strict(),
    result: result<{ nodes: PoolTreeNode[]; total: number }>()
  },
  'ipam:pool:next-block': { args: nextBlockSchema, result: result<OrQueued<PoolDto[]>>() },
  'ipam:pool:split': { args: splitSchema, result: result<OrQueued<SplitResult>>() },
  'ipam:pool:merge': { args: mergeSchema, result: result<OrQueued<MergeResult>>() },
  'ipam:range:list': { args: z.object({ pool: poolRef }).strict(), result: result<RangeDto[]>() },
  'ipam:range:add': { args: rangeCreateSchema, result: result<OrQueued<RangeDto>>() },
  'ipam:range:remove': { args: z.object({ id: z.number().int().positive() }).strict(), result: result<OrQueued<RangeDto>>() },
  'ipam:stats': { args: noArgs, result: result<IpamStats>() },
  'ipam:pool:facets': { args: noArgs, result: result<PoolFacets>() },
  /** Sites, VLAN groups, VLANs, tags and custom field definitions, in one read (the editors and the pickers). */
  'ipam:objects': { args: noArgs, result: result<IpamObjects>() },
  /** A change to a site, VLAN group, VLAN, tag, pool's tags or custom field definition (admin). */
  'ipam:object:edit': { args: objectEditSchema, result: result<OrQueued<unknown>>() },
  'ipam:ip:tag': { args: ipTagEditSchema, result: result<OrQueued<{ changed: string[] }>>() },
  /** One change to many allocations of a pool: one request, one transaction. */
  'ipam:bulk-edit': { args: bulkEditSchema, result: result<OrQueued<BulkEditResult>>() },
  // Utilization over time: daily snapshots (taken by the app's maintenance and `netkeeper ipam usage
  // snapshot`), per-pool thresholds (an admin's), and the pools over them now; `crossed` lists each pool
  // once when it goes up a level (this installation's memory), which the shell turns into a notification.
  'ipam:usage:history': { args: usageHistorySchema, result: result<UsageHistory>() },
  'ipam:usage:snapshot': { args: noArgs, result: result<{ pools: number }>() },
  'ipam:usage:thresholds:set': { args: thresholdSetSchema, result: result<Thresholds>() },
  'ipam:usage:alerts': { args: noArgs, result: result<UsageAlerts>() },
  /** The pools at or above their warning level now (read only: remembers nothing). */
  'ipam:usage:levels': { args: noArgs, result: result<PoolLevel[]>() },

  // The command palette (Ctrl/Cmd+K): searches pools, addresses, directory users and groups, and audit
  // entries, a few of each (core/palette/search.ts); the palette asks each source in a call of its own.
  'palette:search': { args: paletteSearchSchema, result: result<PaletteResults>() },

  'dns:server:list': { args: noArgs, result: result<DnsServerDto[]>() },
  'dns:zone:list': { args: noArgs, result: result<DnsZoneDto[]>() },
  'dns:pool': { args: z.object({ pool: poolRef }).strict(), result: result<PoolDnsDto>() },
  'dns:record:list': { args: recordListSchema, result: result<Page<DnsRecordDto> & { serial: number | null }>() },
  'dns:drift': { args: z.object({ zone: z.string().trim().max(254).optional() }).strict(), result: result<DnsDriftReport>() },
  'dns:drift:repair': { args: driftRepairSchema, result: result<DnsRepairResult[]>() },
  'dns:drift:ignore': { args: z.object({ id: z.string().min(1).max(600), undo: z.boolean().optional() }).strict(), result: result<{ id: string; ignored: boolean }>() },
  // Set-up from the DNS & DHCP screen (admin, authorized by the core and the server's grants). A TSIG secret
  // or a Kea password travels only from the renderer to the keychain: no result carries it back.
  'dns:server:add': { args: dnsServerAddSchema, result: result<DnsServerDto>() },
  'dns:server:test': { args: serverNameArgs, result: result<DnsServerTest>() },
  'dns:server:set-secret': { args: z.object({ name: z.string().trim().min(1).max(100), secret: z.string().trim().min(1, 'is required').max(1024) }).strict(), result: result<DnsServerDto>() },
  'dns:server:remove': { args: serverNameArgs, result: result<DnsServerDto>() },
  'dns:zone:add': { args: dnsZoneAddSchema, result: result<DnsZoneDto>() },
  'dns:zone:remove': { args: z.object({ name: z.string().trim().min(1).max(254) }).strict(), result: result<DnsZoneDto>() },
  /** A pool's forward zone and PTR switch; `publish` also queues its existing allocations (one outbox batch). */
  'dns:pool:set': { args: poolDnsSchema, result: result<PoolDnsDto>() },

  'dhcp:server:list': { args: noArgs, result: result<DhcpServerDto[]>() },
  'dhcp:server:add': { args: dhcpServerAddSchema, result: result<DhcpServerDto>() },
  'dhcp:server:test': { args: serverNameArgs, result: result<DhcpServerTest>() },
  'dhcp:server:remove': { args: serverNameArgs, result: result<DhcpServerDto>() },
  'dhcp:pool': { args: z.object({ pool: poolRef }).strict(), result: result<PoolDhcpDto>() },
  'dhcp:pool:set': { args: poolDhcpSchema, result: result<PoolDhcpDto>() },
  /** The subnet ids to pick from for a pool on a Kea server (ids in Kea's database, the pools using them, the next free one). */
  'dhcp:subnet-ids': { args: z.object({ server: z.string().trim().min(1).max(100), pool: poolRef.optional() }).strict(), result: result<KeaSubnetChoices>() },
  'dhcp:drift': { args: z.object({ pool: z.string().trim().max(200).optional() }).strict(), result: result<DhcpDriftReport>() },
  'dhcp:drift:repair': { args: dhcpDriftRepairSchema, result: result<DhcpRepairResult[]>() },
  'dhcp:drift:ignore': { args: z.object({ id: z.string().min(1).max(600), undo: z.boolean().optional() }).strict(), result: result<{ id: string; ignored: boolean }>() },

  'audit:list': { args: auditListSchema, result: result<AuditPage>() },
  'audit:get': { args: z.object({ seq: z.string().regex(/^\d+$/, 'must be a sequence number') }).strict(), result: result<AuditEntryDto>() },
  'audit:counts': { args: auditFilterSchema, result: result<AuditCounts>() },
  'audit:verify': { args: noArgs, result: result<VerifyReport>() },
  'audit:policy:list': { args: noArgs, result: result<RetentionPolicyDto[]>() },
  'audit:policy:set': { args: policySetSchema, result: result<RetentionPolicyDto>() },
  'audit:policy:remove': { args: z.object({ resourceType: z.string().trim().min(1).max(64) }).strict(), result: result<{ removed: boolean }>() },
  'audit:purge': { args: z.object({ dryRun: z.boolean().optional() }).strict(), result: result<PurgeReport>() },
  /** What this app's next scheduled purge will remove, and when. */
  'audit:purge:next': { args: noArgs, result: result<PurgeOutlook>() },
  // Forwarding to syslog and webhooks (docs/audit.md#forwarding): the sinks are the database's (changing them is
  // an admin's), their secrets this machine's keychain's; whether this app forwards is this installation's.
  'audit:forward:status': { args: noArgs, result: result<ForwardStatus>() },
  'audit:forward:app': { args: forwardInAppSchema, result: result<ForwardStatus['inApp']>() },
  'audit:sink:add': { args: sinkAddSchema, result: result<SinkAddResult>() },
  'audit:sink:remove': { args: sinkRefSchema, result: result<{ removed: boolean; backlog: number }>() },
  'audit:sink:test': { args: sinkRefSchema, result: result<SinkTestResult>() },
  'audit:sink:enable': { args: sinkEnableSchema, result: result<SinkDto>() },
  /** Where this installation anchors the chain head (settings.json): a file, a syslog sink, how often. */
  'audit:anchors:get': { args: noArgs, result: result<AnchorSettings>() },
  'audit:anchors:set': { args: anchorSettingsSchema, result: result<AnchorSettings>() },
  'audit:anchor': { args: noArgs, result: result<{ seq: string; hash: string; at: string; sink?: string }>() },
  // Export to a file: a native save dialog in the app (a download in the browser harness), then the rows
  // streamed to it; poll progress and cancel with the caller's runId while audit:export is pending.
  'audit:export': { args: auditExportSchema, result: result<AuditExportResult>() },
  'audit:export:progress': { args: exportRunRefSchema, result: result<AuditExportProgress | null>() },
  'audit:export:cancel': { args: exportRunRefSchema, result: result<{ cancelled: boolean }>() },

  // A native "choose a file" dialog (the import wizard); where none exists it fails with UNAVAILABLE.
  'dialog:open-file': { args: openFileSchema, result: result<OpenFileResult>() },

  // The directory: LDAP profiles (no secrets cross back), sign-in, and users and groups of the signed-in
  // session. Listings page with a cursor (RFC 2696 underneath): pass nextCursor back for the next page.
  'directory:profile:list': { args: noArgs, result: result<LdapProfileDto[]>() },
  'directory:profile:save': { args: profileSaveSchema, result: result<LdapProfileDto>() },
  'directory:profile:remove': { args: z.object({ name: z.string().trim().min(1).max(64) }).strict(), result: result<{ removed: boolean; secretRemoved: boolean }>() },
  'directory:profile:test': {
    args: z.object({ name: z.string().trim().min(1).max(64).optional(), password: z.string().min(1).max(1024).optional() }).strict(),
    result: result<ProfileTestReport>()
  },
  'auth:session': { args: noArgs, result: result<SessionDto>() },
  'auth:signin': { args: signInSchema, result: result<SessionDto>() },
  'auth:signout': { args: noArgs, result: result<SessionDto>() },
  'auth:lock': { args: noArgs, result: result<SessionDto>() },
  'auth:unlock': { args: z.object({ password: z.string().max(1024) }).strict(), result: result<SessionDto>() },
  'directory:user:list': { args: listSchema, result: result<DirectoryPage<UserDto>>() },
  'directory:user:get': { args: z.object({ uid: userRef }).strict(), result: result<UserDto>() },
  'directory:user:create': { args: userCreateSchema, result: result<OrQueued<UserDto>>() },
  'directory:user:update': { args: userUpdateSchema, result: result<OrQueued<UserDto>>() },
  'directory:user:rename': { args: userRenameSchema, result: result<UserRenameResult>() },
  'directory:user:delete': { args: z.object({ uid: userRef }).strict(), result: result<OrQueued<UserDeleteResult>>() },
  'directory:user:password': { args: passwordSetSchema, result: result<PasswordSetResult>() },
  'directory:user:lock': { args: z.object({ uid: userRef }).strict(), result: result<OrQueued<LockResult>>() },
  'directory:user:unlock': { args: z.object({ uid: userRef }).strict(), result: result<OrQueued<LockResult>>() },
  'directory:group:list': { args: listSchema, result: result<DirectoryPage<GroupDto>>() },
  'directory:group:get': { args: z.object({ cn: groupRefSchema }).strict(), result: result<GroupDto>() },
  'directory:group:create': { args: groupCreateSchema, result: result<OrQueued<GroupDto>>() },
  'directory:group:update': { args: groupUpdateSchema, result: result<OrQueued<GroupDto>>() },
  'directory:group:delete': { args: z.object({ cn: groupRefSchema }).strict(), result: result<OrQueued<GroupDeleteResult>>() },
  'directory:group:members:add': { args: membersSchema, result: result<OrQueued<MembersResult>>() },
  'directory:group:members:remove': { args: membersSchema, result: result<OrQueued<MembersResult>>() },
  // The directory as admins run it (docs/ldap-setup.md, "Bulk changes"): bulk actions as one request,
  // expiry and policy, the CSV import (analyse = dry run, then run), every attribute, the tree, templates.
  'directory:user:bulk': { args: bulkSchema, result: result<DirectoryBulkResult>() },
  'directory:user:expire': { args: expirySchema, result: result<ExpiryResult>() },
  'directory:user:expiring': { args: expiringSchema, result: result<ExpiringAccount[]>() },
  'directory:user:policy': { args: z.object({ uid: userRef }).strict(), result: result<PasswordPolicy>() },
  'directory:user:import': { args: userImportSchema, result: result<UserImportReport>() },
  'directory:group:bulk': { args: groupBulkSchema, result: result<GroupBulkResult>() },
  'directory:ldif:import': { args: ldifImportSchema, result: result<LdifImportReport>() },
  // Imports and bulk actions above that were given a runId: poll their progress, ask them to stop.
  'directory:job:progress': { args: z.object({ runId: z.string().uuid('must be a UUID') }).strict(), result: result<DirectoryJobProgress | null>() },
  'directory:job:cancel': { args: z.object({ runId: z.string().uuid('must be a UUID') }).strict(), result: result<{ cancelled: boolean }>() },
  'directory:entry:get': { args: entryRefSchema, result: result<EntryDetail>() },
  'directory:entry:set': { args: entrySetSchema, result: result<EntryDetail>() },
  'directory:entry:classes': { args: objectClassChangeSchema, result: result<EntryDetail>() },
  'directory:entry:value': {
    args: z.object({ dn: entryRefSchema.shape.dn, attribute: z.string().min(1).max(256), index: z.number().int().min(0).max(1000).default(0) }).strict(),
    result: result<{ base64: string; bytes: number }>()
  },
  'directory:tree:list': { args: treeListSchema, result: result<DirectoryPage<TreeNode>>() },
  'directory:template:get': { args: noArgs, result: result<ResolvedUserTemplate>() },
  'directory:template:set': { args: userTemplateSchema, result: result<ResolvedUserTemplate>() },
  'directory:person:addresses': { args: z.object({ uid: userRef }).strict(), result: result<PersonAddressesDto>() },
  'directory:person:retire': { args: retireSchema, result: result<RetireResultDto>() },
  'directory:cursor:close': { args: z.object({ cursor: z.string().min(1).max(64) }).strict(), result: result<{ closed: boolean }>() },

  // Offline-queued edits (docs/offline.md): served whether or not the database is open, except replay.
  'offline:state': { args: noArgs, result: result<OfflineStateDto>() },
  'offline:queue:list': { args: queueListSchema, result: result<QueueEntryDto[]>() },
  'offline:queue:conflicts': { args: noArgs, result: result<QueueEntryDto[]>() },
  'offline:queue:cancel': { args: queueIdSchema, result: result<QueueEntryDto>() },
  'offline:queue:retry': { args: queueRetrySchema, result: result<QueueEntryDto>() },
  'offline:queue:replay': { args: noArgs, result: result<ReplayReport>() },

  // The legacy SQLite import wizard: analyse -> dry run -> run (poll progress, cancel) -> report file.
  'import:analyse': { args: importAnalyseSchema, result: result<ImportAnalysis>() },
  'import:dry-run': { args: importRunSchema, result: result<ImportReport>() },
  'import:run': { args: importRunSchema, result: result<ImportReport>() },
  'import:progress': { args: z.object({ runId: z.string().uuid('must be a UUID') }).strict(), result: result<ImportProgress | null>() },
  'import:cancel': { args: z.object({ runId: z.string().uuid('must be a UUID') }).strict(), result: result<{ cancelled: boolean }>() },
  // IPAM CSV (docs/ipam.md#csv-in-and-out): export to a chosen file with the lists' filters (progress and
  // cancel by runId), and the CSV wizard: dry run (the analysis of every row) -> run (progress, cancel) -> report.
  'ipam:csv:export': { args: csvExportSchema, result: result<CsvExportFileResult>() },
  'ipam:csv:export:progress': { args: csvRunRefSchema, result: result<CsvExportProgress | null>() },
  'ipam:csv:export:cancel': { args: csvRunRefSchema, result: result<{ cancelled: boolean }>() },
  'ipam:csv:dry-run': { args: csvImportSchema, result: result<CsvImportReport>() },
  'ipam:csv:run': { args: csvImportSchema, result: result<CsvImportReport>() },
  'ipam:csv:progress': { args: csvRunRefSchema, result: result<CsvProgress | null>() },
  'ipam:csv:cancel': { args: csvRunRefSchema, result: result<{ cancelled: boolean }>() },
  'import:report': {
    args: z.object({ reportId: z.string().uuid('must be a UUID'), format: z.enum(REPORT_FORMATS).default('json') }).strict(),
    result: result<ReportFile>()
  }
} as const

export type Contract = typeof contract
export type Channel = keyof Contract
export type ArgsOf<C extends Channel> = z.input<Contract[C]['args']>
export type ParsedArgsOf<C extends Channel> = z.output<Contract[C]['args']>
export type ResultOf<C extends Channel> = Contract[C]['result']

/** What actually crosses the wire: Electron drops custom error fields, so errors travel as data. */
export type Envelope<T> = { ok: true; value: T } | { ok: false; error: ErrorPayload }

export const channels = Object.keys(contract) as Channel[]

/** The renderer-facing api: one async function per channel, same name. */
export type Api = { [C in Channel]: (args: ArgsOf<C>) => Promise<ResultOf<C>> }

/** The preload object: a single invoke function typed by the contract. */
export interface Bridge {
  invoke<C extends Channel>(channel: C, args: ArgsOf<C>): Promise<Envelope<ResultOf<C>>>
}

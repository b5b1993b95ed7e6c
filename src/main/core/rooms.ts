/**
 * The core's rooms that load on first use. IPAM, the outbox and the database are always there; the other
 * domains (DNS, DHCP, the audit services, the directory, the importers) are dynamic imports, each a chunk of
 * its own in the build, so that a command that lists pools never loads the LDAP client, the DNS wire format,
 * the CSV parsers or the audit archive code (docs/architecture.md#lazy-rooms, docs/cli.md#start-up).
 *
 * Core.open loads every room unless told which (the app, the web harness and the tests take them all); the CLI
 * names none for the commands that need only IPAM, and a room is then loaded when the core first needs it
 * through an async path (a side effect of the outbox, a pool map's DHCP leases) or when a command asks
 * (`core.load('dns')`).
 */
export const roomLoaders = {
  dns: async () => {
    const [service, handler] = await Promise.all([import('./dns/service'), import('./dns/handler')])
    return { DnsService: service.DnsService, DnsOutboxHandler: handler.DnsOutboxHandler }
  },
  dhcp: async () => {
    const { DhcpService } = await import('./dhcp/service')
    return { DhcpService }
  },
  audit: async () => {
    const [service, archive, anchors, sinks, forwarder, anchorSink, signing, search, settings] = await Promise.all([
      import('./audit/service'),
      import('./audit/archive-settings'),
      import('./audit/anchors'),
      import('./audit/forward/sinks'),
      import('./audit/forward/forwarder'),
      import('./audit/forward/anchor-sink'),
      import('./audit/signing'),
      import('./audit/search-index'),
      import('./settings/store')
    ])
    return {
      AuditService: service.AuditService,
      archiveTarget: archive.archiveTarget,
      anchorSettings: anchors.anchorSettings,
      SinkStore: sinks.SinkStore,
      AuditForwarder: forwarder.AuditForwarder,
      sendAnchorToSink: anchorSink.sendAnchorToSink,
      AuditSigningKeys: signing.AuditSigningKeys,
      ImportSearchIndexer: search.ImportSearchIndexer,
      SettingsStore: settings.SettingsStore
    }
  },
  directory: async () => {
    const [directory, auth, people] = await Promise.all([import('./directory/service'), import('./auth/service'), import('./people')])
    return { DirectoryService: directory.DirectoryService, AuthService: auth.AuthService, PeopleService: people.PeopleService }
  },
  importer: async () => {
    const [importer, csv] = await Promise.all([import('./importer/service'), import('./ipam/csv-import')])
    return { ImporterService: importer.ImporterService, IpamCsvService: csv.IpamCsvService }
  }
}

export type Room = keyof typeof roomLoaders

export const ALL_ROOMS = Object.keys(roomLoaders) as Room[]

/** What each room's loader gives, once loaded. */
export type RoomModules = { [R in Room]: Awaited<ReturnType<(typeof roomLoaders)[R]>> }

/** Rooms a room's services are built with (the importer kicks the audit search index; people need IPAM and the directory). */
export const ROOM_NEEDS: { [R in Room]: Room[] } = {
  dns: [],
  dhcp: [],
  audit: [],
  directory: [],
  importer: ['audit']
}

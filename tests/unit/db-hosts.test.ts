/** Host lists with ports, multi-host URLs and libpq's key=value form (src/shared/db-hosts.ts), and the profile schema's rules for them. */
import { describe, expect, it } from 'vitest'
import { conninfoToUrl, endpointLabel, endpointsOf, splitMultiHostUrl } from '../../src/shared/db-hosts'
import { dbProfileSchema } from '../../src/shared/schemas'
import { urlSpec } from '../../src/main/core/db/target'
import { poolSettingsSchema } from '../../src/shared/schemas'

describe('host lists', () => {
  it('gives each entry its own port or the connection port, IPv6 in brackets', () => {
    expect(endpointsOf('db1,db2:5433,[fd00::7]:6000,fd00::8', 5432)).toEqual([
      { host: 'db1', port: 5432, label: 'db1' },
      { host: 'db2', port: 5433, label: 'db2:5433' },
      { host: 'fd00::7', port: 6000, label: '[fd00::7]:6000' },
      { host: 'fd00::8', port: 5432, label: 'fd00::8' }
    ])
    expect(endpointLabel({ host: 'fd00::7', port: 6000 })).toBe('[fd00::7]:6000')
  })

  it('splits multi-host URLs in both of libpq spellings', () => {
    expect(splitMultiHostUrl('postgres://nk:pw@db1:5432,db2:5433/ipam?sslmode=require')).toEqual({
      url: 'postgres://nk:pw@db1:5432/ipam?sslmode=require',
      endpoints: [
        { host: 'db1', port: 5432 },
        { host: 'db2', port: 5433 }
      ]
    })
    expect(splitMultiHostUrl('postgresql://nk@/ipam?host=db1,db2&port=5432,5433&sslmode=disable')!.endpoints).toEqual([
      { host: 'db1', port: 5432 },
      { host: 'db2', port: 5433 }
    ])
    expect(splitMultiHostUrl('mysql://x')).toBeNull()
  })

  it('reads the key=value form', () => {
    expect(conninfoToUrl("host=db1,db2 port=5432,5433 dbname=ipam user=nk password='p w' sslmode=verify-full")).toBe(
      'postgresql://nk:p%20w@db1:5432,db2:5433/ipam?sslmode=verify-full'
    )
    expect(conninfoToUrl('postgres://db/x')).toBeNull()
  })

  it('makes a URL spec with endpoints, a standby and the password hidden in the label', () => {
    const pool = poolSettingsSchema.parse({})
    const s = urlSpec('postgres://nk:secret@db1:5432,db2:5433/ipam?sslmode=disable&standby=db3', 'flag', '--database-url', pool)
    expect(s.endpoints).toEqual([
      { host: 'db1', port: 5432 },
      { host: 'db2', port: 5433 }
    ])
    expect(s.standby).toEqual({ host: 'db3', port: 5432 })
    expect(s.label).toBe('postgres://nk:***@db1:5432,db2:5433/ipam?sslmode=disable&standby=db3')
    expect(urlSpec('postgres://nk@db1/ipam?sslmode=disable', 'flag', '--database-url', pool).endpoints).toBeUndefined()
  })

  it('refuses bad ports and a standby list in a saved connection, naming the field', () => {
    const base = { name: 'x', database: 'ipam', user: 'nk' }
    expect(dbProfileSchema.safeParse({ ...base, host: 'db1,db2:5433', standby: 'db3:5434' }).success).toBe(true)
    const badPort = dbProfileSchema.safeParse({ ...base, host: 'db1,db2:70000' })
    expect(badPort.success || badPort.error.issues[0]).toMatchObject({ path: ['host'], message: '"db2:70000": the port must be 1-65535' })
    const twoStandbys = dbProfileSchema.safeParse({ ...base, host: 'db1', standby: 'db3,db4' })
    expect(twoStandbys.success || twoStandbys.error.issues[0]).toMatchObject({ path: ['standby'], message: 'names one host, not a list' })
    expect(dbProfileSchema.parse({ ...base, host: 'db1', standby: '' }).standby).toBeUndefined()
  })
})

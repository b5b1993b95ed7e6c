/**
 * This installation's Ed25519 key for signing audit exports (docs/audit.md#signed-exports). The private key
 * lives in the OS keychain, under an account named after the installation (an id kept in the data folder's
 * settings.json); it never leaves the keychain but to sign. Its public key and fingerprint are recorded in
 * the audit log when the key is created, and again the first time it signs for another database, so an
 * auditor can take the public key from the log itself (`resource_type: audit_signing_key`). `rotate`
 * replaces it; exports signed before keep verifying with the old public key, which the log still holds.
 */
import crypto from 'node:crypto'
import type { Knex } from '@mikro-orm/postgresql'
import { AppError } from '../../../shared/errors'
import type { SigningKeyDto } from '../../../shared/audit'
import type { SecretStore } from '../credentials/keychain'
import { requireRole, type RequestContext } from '../context'
import { SettingsStore } from '../settings/store'
import type { Rows } from './rows'
import { appendAudit } from './writer'

export const SIGNING_KEY_RESOURCE = 'audit_signing_key'

interface StoredKey {
  v: 1
  algorithm: 'Ed25519'
  privateKey: string
  publicKey: string
  fingerprint: string
  createdAt: string
}

/** The key's fingerprint: lowercase hex SHA-256 of its DER SubjectPublicKeyInfo. */
export function fingerprintOf(publicKey: crypto.KeyObject | string): string {
  const key = typeof publicKey === 'string' ? crypto.createPublicKey(publicKey) : publicKey
  return crypto.createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex')
}

/** Parses a PEM public key, refusing anything but Ed25519; the error names `field`. */
export function ed25519PublicKey(pem: string, field: string): crypto.KeyObject {
  let key: crypto.KeyObject
  try {
    key = crypto.createPublicKey(pem)
  } catch (e) {
    throw new AppError('VALIDATION', `${field}: not a PEM public key (${(e as Error).message})`, { field })
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new AppError('VALIDATION', `${field}: an ${key.asymmetricKeyType} key; exports are signed with Ed25519`, { field })
  return key
}

export class AuditSigningKeys {
  constructor(
    private readonly dataDir: string,
    private readonly store: SecretStore
  ) {}

  /** The installation's id (settings.json `installationId`), made on first use. */
  installationId(): string {
    const s = new SettingsStore(this.dataDir)
    const settings = s.read()
    const id = (settings as { installationId?: unknown }).installationId
    if (typeof id === 'string' && /^[0-9a-f-]{36}$/.test(id)) return id
    const fresh = crypto.randomUUID()
    s.write({ ...settings, installationId: fresh })
    return fresh
  }

  private account(): string {
    return `audit-signing-key:${this.installationId()}`
  }

  private async read(): Promise<StoredKey | null> {
    const raw = await this.store.get(this.account())
    if (!raw) return null
    try {
      const k = JSON.parse(raw) as StoredKey
      if (k.v === 1 && k.algorithm === 'Ed25519' && k.privateKey && k.publicKey) return k
    } catch {
      /* not ours: replaced below only by rotate */
    }
    throw new AppError('INTERNAL', `the OS keychain entry ${this.account()} does not hold a Netkeeper signing key; \`netkeeper audit key rotate\` replaces it`)
  }

  private static generate(): StoredKey {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519')
    return {
      v: 1,
      algorithm: 'Ed25519',
      privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      fingerprint: fingerprintOf(publicKey),
      createdAt: new Date().toISOString()
    }
  }

  private static async recorded(knex: Knex, fingerprint: string): Promise<boolean> {
    const r = await knex.raw<Rows<{ ok: boolean }>>(
      `select exists (select 1 from audit_logs where resource_type = ? and resource_id = ? and status = 'success') as ok`,
      [SIGNING_KEY_RESOURCE, fingerprint]
    )
    return r.rows[0]!.ok
  }

  /** Appends the public key to this database's audit log: created (or rotated to), or first used here. */
  private async record(knex: Knex, ctx: RequestContext, key: StoredKey, how: 'created' | 'first use on this database' | 'rotated', before?: StoredKey): Promise<void> {
    await appendAudit(knex, ctx, {
      action: how === 'rotated' ? 'update' : 'create',
      resourceType: SIGNING_KEY_RESOURCE,
      resourceId: key.fingerprint,
      resourceName: `installation ${this.installationId()}`,
      details: {
        ...(before ? { before: { fingerprint: before.fingerprint } } : {}),
        after: { algorithm: key.algorithm, fingerprint: key.fingerprint, publicKey: key.publicKey, createdAt: key.createdAt },
        context: { event: how, installation: this.installationId() }
      }
    })
  }

  /**
   * The key to sign with: made (and recorded) when there is none, recorded in this database's log when it
   * was not yet. Throws UNAVAILABLE when the keychain cannot be used.
   */
  async current(knex: Knex, ctx: RequestContext): Promise<{ privateKey: crypto.KeyObject; dto: SigningKeyDto }> {
    let key = await this.read()
    let how: 'created' | 'first use on this database' | null = null
    if (!key) {
      key = AuditSigningKeys.generate()
      await this.store.set(this.account(), JSON.stringify(key))
      how = 'created'
    } else if (!(await AuditSigningKeys.recorded(knex, key.fingerprint))) {
      how = 'first use on this database'
    }
    if (how) await this.record(knex, ctx, key, how)
    return { privateKey: crypto.createPrivateKey(key.privateKey), dto: this.dto(key, true) }
  }

  /** The key as it stands, without making one; null when there is none yet. */
  async show(knex: Knex): Promise<SigningKeyDto | null> {
    const key = await this.read()
    return key ? this.dto(key, await AuditSigningKeys.recorded(knex, key.fingerprint)) : null
  }

  /** A new key replaces the old in the keychain; the change is recorded (admin: it decides what exports prove). */
  async rotate(knex: Knex, ctx: RequestContext): Promise<{ before: SigningKeyDto | null; after: SigningKeyDto }> {
    requireRole(ctx, 'admin', 'rotating the audit signing key')
    let old: StoredKey | null = null
    try {
      old = await this.read()
    } catch {
      old = null
    }
    const key = AuditSigningKeys.generate()
    await this.store.set(this.account(), JSON.stringify(key))
    await this.record(knex, ctx, key, old ? 'rotated' : 'created', old ?? undefined)
    return { before: old ? this.dto(old, await AuditSigningKeys.recorded(knex, old.fingerprint)) : null, after: this.dto(key, true) }
  }

  private dto(k: StoredKey, recorded: boolean): SigningKeyDto {
    return { algorithm: 'Ed25519', fingerprint: k.fingerprint, publicKey: k.publicKey, createdAt: k.createdAt, installation: this.installationId(), recorded }
  }
}

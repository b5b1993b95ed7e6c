/**
 * Secrets live in the OS keychain (Secret Service on Linux, Keychain on macOS, Credential Vault on
 * Windows) through keytar, under the service name "Netkeeper". keytar is loaded lazily so that a machine
 * without it (or without a running Secret Service) gets a clear error only when a secret is needed.
 */
import { createRequire } from 'node:module'
import { AppError } from '../../../shared/errors'

export const KEYCHAIN_SERVICE = 'Netkeeper'

type Keytar = typeof import('keytar')

let keytarModule: Keytar | undefined

function loadKeytar(): Keytar {
  if (keytarModule) return keytarModule
  try {
    keytarModule = createRequire(import.meta.url)('keytar') as Keytar
    return keytarModule
  } catch (e) {
    throw new AppError(
      'UNAVAILABLE',
      `the OS keychain module (keytar) could not be loaded: ${(e as Error).message}. ` +
        'On Linux install libsecret and rebuild; automation can pass secrets through the environment instead.'
    )
  }
}

function keychainUnavailable(e: unknown): AppError {
  const msg = (e as Error)?.message ?? String(e)
  return new AppError(
    'UNAVAILABLE',
    `the OS keychain is not available (${msg}). On Linux a Secret Service provider such as gnome-keyring ` +
      'must be running and unlocked on the session D-Bus; automation can pass the secret through the ' +
      'environment (NETKEEPER_DB_PASSWORD, NETKEEPER_LDAP_PASSWORD) or --password-stdin instead.'
  )
}

export interface SecretStore {
  get(account: string): Promise<string | null>
  set(account: string, secret: string): Promise<void>
  delete(account: string): Promise<boolean>
}

export const keychain: SecretStore = {
  async get(account) {
    const k = loadKeytar()
    try {
      return await k.getPassword(KEYCHAIN_SERVICE, account)
    } catch (e) {
      throw keychainUnavailable(e)
    }
  },
  async set(account, secret) {
    const k = loadKeytar()
    try {
      await k.setPassword(KEYCHAIN_SERVICE, account, secret)
    } catch (e) {
      throw keychainUnavailable(e)
    }
  },
  async delete(account) {
    const k = loadKeytar()
    try {
      return await k.deletePassword(KEYCHAIN_SERVICE, account)
    } catch (e) {
      throw keychainUnavailable(e)
    }
  }
}

/** The keychain account under which a database profile's password is kept. */
export const dbAccount = (profileName: string): string => `db:${profileName}`

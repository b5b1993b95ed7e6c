/**
 * Passwords: the value of the Password Modify extended operation (RFC 3062), a salted SHA-1 ({SSHA}, what
 * OpenLDAP itself stores by default) for servers without it, and generated passwords. A password is never
 * written in clear text to the directory, to disk or to a log.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto'

/** {SSHA}: base64(SHA-1(password || salt) || salt) with an 8-byte random salt, as slappasswd makes it. */
export function sshaHash(password: string, salt: Buffer = randomBytes(8)): string {
  const digest = createHash('sha1').update(Buffer.from(password, 'utf8')).update(salt).digest()
  return `{SSHA}${Buffer.concat([digest, salt]).toString('base64')}`
}

/** Checks a password against an {SSHA} value (used by tests and the seed data). */
export function sshaVerify(password: string, stored: string): boolean {
  if (!stored.startsWith('{SSHA}')) return false
  const raw = Buffer.from(stored.slice(6), 'base64')
  if (raw.length <= 20) return false
  return sshaHash(password, raw.subarray(20)) === stored
}

function berLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n])
  const bytes: number[] = []
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff)
  return Buffer.from([0x80 | bytes.length, ...bytes])
}

function berTagged(tag: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), berLength(value.length), value])
}

/**
 * PasswdModifyRequestValue ::= SEQUENCE { userIdentity [0] OCTET STRING OPTIONAL,
 *   oldPasswd [1] OCTET STRING OPTIONAL, newPasswd [2] OCTET STRING OPTIONAL }
 */
export function passwordModifyValue(userDn: string, newPassword: string): Buffer {
  const body = Buffer.concat([berTagged(0x80, Buffer.from(userDn, 'utf8')), berTagged(0x82, Buffer.from(newPassword, 'utf8'))])
  return berTagged(0x30, body)
}

const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789-_.:+!'

/** A random password (about 119 bits with 20 characters), without look-alike characters. */
export function generatePassword(length = 20): string {
  let s = ''
  for (let i = 0; i < length; i++) s += ALPHABET[randomInt(ALPHABET.length)]
  return s
}

/** Days since 1970-01-01, the unit of shadowLastChange and shadowExpire. */
export const epochDays = (ms = Date.now()): number => Math.floor(ms / 86_400_000)

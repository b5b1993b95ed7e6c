/** Helpers for test files: a fresh database per file on the shared server. */
import { randomBytes } from 'node:crypto'
import { inject } from 'vitest'
import pg from 'pg'

export async function freshDatabase(prefix = 'nk'): Promise<string> {
  const admin = inject('pgUrl')
  const name = `${prefix}_${randomBytes(4).toString('hex')}`
  const client = new pg.Client({ connectionString: admin })
  await client.connect()
  try {
    await client.query(`create database "${name}"`)
  } finally {
    await client.end()
  }
  const u = new URL(admin)
  u.pathname = `/${name}`
  return u.toString()
}

export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

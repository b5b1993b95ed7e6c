/**
 * The viewer's filters as SQL, shared by the list, the counts and the export: the WHERE clause of every
 * filter but the text, the time part alone, and the text search's three parts with the choice of the words
 * the trigram indexes get.
 */
import type { Knex } from '@mikro-orm/postgresql'
import type { z } from 'zod'
import { validationError } from '../../../shared/errors'
import type { auditFilterSchema } from '../../../shared/audit'
import { parseIp } from '../../../shared/net'
import { LIKE_ESCAPE, likeText } from '../db/like'


/**
 * Text search inside details uses the trigram index on details::text. GIN answers a pattern by reading the
 * posting list of each of its trigrams, and a trigram found in most rows (the "web" of "web-4242" when every
 * row names a web host) costs a read of nearly every row id in the table, however rare the whole text is. So
 * when the planner's statistics show that some words of the search text occur in many rows, only the other
 * words go to the index, and the whole text is then tested on each candidate row through an expression the
 * index does not cover. Every row holding the whole text holds each of its words, so the rows found are the
 * same; only the way to them changes.
 */
export interface TextSample {
  at: number
  /** Lower-cased details texts from pg_stats with the share of rows each stands for. */
  texts: { text: string; weight: number }[]
}

/** The statistics are re-read at most this often. */
export const TEXT_SAMPLE_TTL_MS = 5 * 60_000
/** A word found in more than this share of rows is left to the recheck. */
const COMMON_WORD_SHARE = 0.05
/** Fewer sampled texts than this (a small or never analysed table): the index gets the whole text. */
const MIN_SAMPLE = 50

/** The ASCII letter-and-digit runs of at least 3 characters in a search text: what pg_trgm indexes as words. */
export function searchWords(text: string): string[] {
  return [...new Set(text.toLowerCase().split(/[^a-z0-9]+/).filter((w) => w.length >= 3))]
}

/** The words of `text` worth handing to the index, or null to hand it the whole text. */
export function rareWords(text: string, sample: TextSample['texts']): string[] | null {
  if (sample.length < MIN_SAMPLE) return null
  const words = searchWords(text)
  const rare = words.filter((w) => sample.reduce((share, s) => (s.text.includes(w) ? share + s.weight : share), 0) <= COMMON_WORD_SHARE)
  return rare.length && rare.length < words.length ? rare : null
}

/**
 * The rows a text search looks at (docs/audit.md#text-search), in three parts; the list pages each apart,
 * the counts and the export read their union as a derived table named audit_logs:
 * - rows not written by an import, tested on details::text (the partial trigram index covers them);
 * - import rows up to `upTo`, which the background indexer has copied, tested on their copy in
 *   audit_import_search (which has its own trigram index);
 * - import rows above `upTo` (read just before), tested on details::text (audit_logs_import_seq_idx finds them).
 * The three are disjoint, and each tests the whole text, so the rows are those whose details hold it. Each
 * part is planned on its own with the other filters pushed into it, so PostgreSQL can walk the newest rows
 * when the text is common and go through an index when it is rare, as it did with one index. With `words`
 * (see rareWords) each index gets the rare words and the whole text is tested through an expression no
 * index covers.
 */
export function textSource(text: string, words: string[] | null, upTo: string): Array<{ sql: string; bindings: Knex.Value[] }> {
  const whole = `%${likeText(text)}%`
  const match = (expr: string): { sql: string; bindings: Knex.Value[] } =>
    words
      ? { sql: [...words.map(() => `${expr} ilike ? ${LIKE_ESCAPE}`), `(${expr} || '') ilike ? ${LIKE_ESCAPE}`].join(' and '), bindings: [...words.map((x) => `%${likeText(x)}%`), whole] }
      : { sql: `${expr} ilike ? ${LIKE_ESCAPE}`, bindings: [whole] }
  const logged = match('t.details::text')
  const copied = match('s.doc')
  return [
    { sql: `select t.* from audit_logs t where t.source <> 'import' and ${logged.sql}`, bindings: logged.bindings },
    {
      sql: `select t.* from audit_logs t where t.source = 'import' and t.seq <= ?::bigint
              and exists (select 1 from audit_import_search s where s.seq = t.seq and ${copied.sql})`,
      bindings: [upTo, ...copied.bindings]
    },
    {
      sql: `select t.* from audit_logs t where t.source = 'import' and t.seq > ?::bigint and t.details::text ilike ? ${LIKE_ESCAPE}`,
      bindings: [upTo, whole]
    }
  ]
}

export interface Where {
  /** What to select from: audit_logs, or the derived table of a text search (also named audit_logs). */
  from: string
  /** The other filters, over `from`. */
  sql: string
  /** from's bindings, then sql's. */
  bindings: Knex.Value[]
  /** A text search's parts (textSource), for queries that run them one by one. */
  parts?: Array<{ sql: string; bindings: Knex.Value[] }>
  filter?: { sql: string; bindings: Knex.Value[] }
}

/** The WHERE clause of every filter but the text (see textSource), shared by the list, the counts and the export. */
export function whereClause(f: z.output<typeof auditFilterSchema>): { sql: string; bindings: Knex.Value[] } {
  const w: string[] = []
  const b: Knex.Value[] = []
  if (f.from) {
    w.push('created_at >= ?::timestamptz')
    b.push(new Date(f.from).toISOString())
  }
  if (f.to) {
    w.push('created_at < ?::timestamptz')
    b.push(new Date(f.to).toISOString())
  }
  if (f.from && f.to && new Date(f.from) > new Date(f.to)) throw validationError('to', 'is before from')
  if (f.action) {
    const actions = Array.isArray(f.action) ? f.action : [f.action]
    w.push('action = any(?::text[])')
    b.push(actions as unknown as Knex.Value)
  }
  if (f.resourceType) {
    w.push('resource_type = ?')
    b.push(f.resourceType)
  }
  if (f.resource) {
    let ip: string | null = null
    try {
      if (!f.resourceType || f.resourceType === 'ip_allocation') ip = parseIp(f.resource, 'resource').text
    } catch {
      /* not an address */
    }
    if (ip === null) {
      w.push(`(resource_id = ? or lower(resource_name) like ? ${LIKE_ESCAPE})`)
      b.push(f.resource, `${likeText(f.resource.toLowerCase())}%`)
    } else {
      // An address also finds the batch rows of CSV imports that wrote it (one audit row per batch, its
      // allocations in details.rows; resource_id is null on them, which audit_logs_resource_id_idx finds).
      w.push(
        `(resource_id = ? or lower(resource_name) like ? ${LIKE_ESCAPE}
          or seq = any(array(select b.seq from audit_logs b where b.resource_type = 'ip_allocation' and b.resource_id is null and b.source = 'import'
                                and b.details->'rows' @> ?::jsonb)))`
      )
      b.push(f.resource, `${likeText(f.resource.toLowerCase())}%`, JSON.stringify([{ after: { ip } }]))
    }
  }
  if (f.actor) {
    w.push('user_id = ?')
    b.push(f.actor)
  }
  if (f.ip) {
    if (f.ip.includes('/')) {
      const [addr, prefix] = f.ip.split('/')
      const ip = parseIp(addr ?? '', 'ip')
      if (!/^\d{1,3}$/.test(prefix ?? '') || Number(prefix) > (ip.family === 4 ? 32 : 128)) throw validationError('ip', `"${f.ip}": bad prefix length`)
      w.push('user_ip <<= network(?::inet)')
      b.push(`${ip.text}/${prefix}`)
    } else {
      w.push('user_ip = ?::inet')
      b.push(parseIp(f.ip, 'ip').text)
    }
  }
  if (f.status) {
    w.push('status = ?')
    b.push(f.status)
  }
  if (f.source) {
    w.push('source = ?')
    b.push(f.source)
  }
  if (f.requestId) {
    w.push('request_id = ?')
    b.push(f.requestId)
  }
  return { sql: w.length ? w.join(' and ') : 'true', bindings: b }
}

/** The time part of the filter alone (see export). */
export function timeClause(f: z.output<typeof auditFilterSchema>): { sql: string; bindings: Knex.Value[] } | null {
  if (!f.from) return null
  const w = ['created_at >= ?::timestamptz']
  const b: Knex.Value[] = [new Date(f.from).toISOString()]
  if (f.to) {
    w.push('created_at < ?::timestamptz')
    b.push(new Date(f.to).toISOString())
  }
  return { sql: w.join(' and '), bindings: b }
}

/** Which words of a details text search go to the trigram index (the rest is rechecked row by row). */
import { describe, expect, it } from 'vitest'
import { rareWords, searchWords } from '../../src/main/core/audit/service'

const sample = (texts: string[]) => texts.map((text) => ({ text: text.toLowerCase(), weight: 1 / texts.length }))
const rows = Array.from({ length: 100 }, (_, i) => `{"after": {"hostname": "web-${i}", "owner": "team-${i % 3}"}}`)

describe('text search words', () => {
  it('splits like pg_trgm: lower-case letter and digit runs of three or more', () => {
    expect(searchWords('Web-4242')).toEqual(['web', '4242'])
    expect(searchWords('"n": 4')).toEqual([])
    expect(searchWords('a.b.c 10.0.0.1 hostname hostname')).toEqual(['hostname'])
  })

  it('leaves words most rows contain to the recheck, and keeps the whole text when nothing is gained', () => {
    expect(rareWords('web-4242', sample(rows))).toEqual(['4242'])
    // Every word rare: the whole text goes to the index as before.
    expect(rareWords('x-4242 y-9999', sample(rows))).toBeNull()
    // Every word common: the same.
    expect(rareWords('hostname web', sample(rows))).toBeNull()
    // No statistics (a small or never analysed table): the same.
    expect(rareWords('web-4242', sample(rows.slice(0, 10)))).toBeNull()
  })
})
